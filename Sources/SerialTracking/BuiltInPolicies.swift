/// The built-in policies, byte-identical to `Pipelines/policies/*.json`
/// (a test decodes both and compares).
enum BuiltInPolicies {
    static let radiographSurveillance = #"""
{
  "name": "radiograph-surveillance",
  "version": "1.0.0",
  "description": "Follow-up chest radiographs every 1 to 6 months according to the doubling time: the next exam falls when a measurable change is expected, t = 3·VDT·log2(1 + δ/D), with δ the measurable change and D the last diameter, clamped to 30–183 days.",
  "source": "NoduleKit issue 6, the seed's clinical rule (metastatic-disease follow-up with radiographs every 1–6 months according to the tumour's doubling time); growth-time formula from Schwartz's VDT for a sphere, V ∝ D³; δ = 2 mm after Fleischner's minimum meaningful diameter change.",
  "caveat": "The VDT bands and the 2 mm threshold come from CT studies; on radiographs they support, and never replace, a clinician's decision. A new radiograph nodule normally triggers CT.",
  "measurable_change_mm": 2.0,
  "minimum_interval_days": 30,
  "maximum_interval_days": 183,
  "rules": {
    "growing": { "action": "measurable-change", "vdt": "estimate", "category": "growing" },
    "indeterminate": { "action": "measurable-change", "vdt": "fastest-plausible", "category": "indeterminate" },
    "stable": { "action": "interval", "days": 183, "category": "stable" },
    "shrinking": { "action": "interval", "days": 183, "category": "shrinking" },
    "new": { "action": "interval", "days": 30, "category": "new" },
    "resolved": { "action": "none", "category": "resolved" }
  }
}
"""#

    static let vdtCategory = #"""
{
  "name": "vdt-category",
  "version": "1.0.0",
  "description": "NELSON/BTS volume-doubling-time bands: VDT under 400 days is suspicious (refer); 400–600 days is indeterminate (continue follow-up); over 600 days is likely benign.",
  "source": "NELSON trial volumetry management and the British Thoracic Society 2015 pulmonary nodule guideline (VDT bands 400 and 600 days), as summarised in NoduleKit's domain notes.",
  "caveat": "CT-derived bands: applied to radiograph diameters they are decision support only, never a radiograph guideline. A suspicious result means referral for CT and specialist review.",
  "minimum_interval_days": 30,
  "maximum_interval_days": 365,
  "bands": [
    { "below_days": 400, "category": "suspicious", "action": "refer", "reason": "VDT under 400 days: suspicious for malignancy" },
    { "below_days": 600, "category": "indeterminate", "action": "follow-up", "interval_days": 183, "reason": "VDT 400–600 days: indeterminate, continue follow-up" },
    { "category": "likely-benign", "action": "none", "reason": "VDT over 600 days: likely benign" }
  ],
  "rules": {
    "growing": { "action": "vdt-band" },
    "indeterminate": { "action": "interval", "days": 90, "category": "indeterminate" },
    "stable": { "action": "interval", "days": 183, "category": "stable" },
    "shrinking": { "action": "none", "category": "not-neoplastic-growth" },
    "new": { "action": "interval", "days": 90, "category": "new" },
    "resolved": { "action": "none", "category": "resolved" }
  }
}
"""#
}
