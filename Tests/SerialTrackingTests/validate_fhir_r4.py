#!/usr/bin/env python3
"""Validates FHIR R4 (4.0.1) JSON resources with fhir.resources 6.4.0 (pydantic 1).

Usage: validate_fhir_r4.py FILE...   Each FILE holds one resource (e.g. a Bundle).
Exit 0 when every file validates; 1 with the errors on stderr otherwise;
2 when the validator itself is missing (never a silent pass).

fhir.resources checks structure: resource and datatype fields, types,
required elements, cardinality, and primitive formats (ids, dates, URIs).
It does not check code values against value sets. On top of it this script
checks what a Bundle of type collection needs for internal references: every
entry has a fullUrl and every `urn:uuid:` reference resolves inside the bundle.
"""
import json
import sys

try:
    import fhir.resources
    from fhir.resources import construct_fhir_element
except ImportError as error:  # pragma: no cover
    print(f"validate_fhir_r4: fhir.resources is not installed ({error}); run scripts/fhir-venv.sh", file=sys.stderr)
    sys.exit(2)

if getattr(fhir.resources, "__fhir_version__", None) != "4.0.1":
    print(f"validate_fhir_r4: need fhir.resources for FHIR 4.0.1, found {getattr(fhir.resources, '__fhir_version__', '?')}", file=sys.stderr)
    sys.exit(2)


def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def validate(path):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    resource = construct_fhir_element(data["resourceType"], data)
    problems = []
    if data["resourceType"] == "Bundle":
        # Validate each entry's resource with its own class as well (explicit, not relying on the Bundle's nested typing).
        full_urls = set()
        for index, entry in enumerate(data.get("entry", [])):
            if "fullUrl" not in entry:
                problems.append(f"entry {index}: no fullUrl")
            else:
                full_urls.add(entry["fullUrl"])
            inner = entry.get("resource")
            if inner is None:
                problems.append(f"entry {index}: no resource")
                continue
            construct_fhir_element(inner["resourceType"], inner)
        for reference in references(data):
            if reference.startswith("urn:uuid:") and reference not in full_urls:
                problems.append(f"unresolved reference {reference}")
    return resource, problems


def main(paths):
    if not paths:
        print("usage: validate_fhir_r4.py FILE...", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            resource, problems = validate(path)
        except Exception as error:  # pydantic.ValidationError, KeyError, JSON errors
            print(f"{path}: INVALID\n{error}", file=sys.stderr)
            failed += 1
            continue
        if problems:
            print(f"{path}: INVALID\n" + "\n".join(problems), file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: valid FHIR {fhir.resources.__fhir_version__} {resource.resource_type}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
