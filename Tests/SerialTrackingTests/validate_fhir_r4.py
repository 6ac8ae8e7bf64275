#!/usr/bin/env python3
"""Placeholder: the FHIR R4 validator is added with the FHIR writer."""
