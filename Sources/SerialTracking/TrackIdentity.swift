/// Stable, deterministic identifiers for nodule tracks, in the spirit of DICOM
/// SR TID 1500: Tracking Identifier (112039, human-readable) and Tracking UID
/// (112040, globally unique).
///
/// The 128-bit value is a name-based hash of (issuer, patient ID, first exam
/// ID, first position rounded to 0.1 mm), so the same inputs give the same
/// identifier on every run and machine. It is formatted as an RFC 9562 UUID
/// with version 8 (custom) and as a DICOM UID under the 2.25 root (UUID-derived
/// UIDs, DICOM PS3.5 §B.2).
public struct TrackIdentity: Hashable, Sendable {
    public let high: UInt64
    public let low: UInt64

    public init(patient: PatientKey, firstExamID: String, xMM: Double, yMM: Double) {
        let name = "\(patient.issuer)\u{1F}\(patient.patientID)\u{1F}\(firstExamID)\u{1F}\(Int((xMM * 10).rounded()))\u{1F}\(Int((yMM * 10).rounded()))"
        self.init(hashing: name)
    }

    /// A name-based identity for any string (used for FHIR resource ids too).
    public init(hashing name: String) {
        // Two independent 64-bit FNV-1a streams, each finished with a SplitMix64 mix.
        var h1: UInt64 = 0xCBF2_9CE4_8422_2325, h2: UInt64 = 0x6C62_272E_07BB_0142
        for byte in name.utf8 {
            h1 = (h1 ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            h2 = (h2 ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 ^ 0x9E37_79B9_7F4A_7C15
        }
        func mix(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // Version 8 in bits 48–51 of the high word, variant 0b10 in the top bits of the low word.
        high = (mix(h1) & ~0xF000) | 0x8000
        low = (mix(h2 ^ h1) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
    }

    /// `xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx`, lower case.
    public var uuidString: String {
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        let h = hex(high, 16), l = hex(low, 16)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }

    /// `2.25.<the 128-bit value in decimal>`.
    public var dicomUID: String {
        // Decimal of a 128-bit number by repeated division of 32-bit limbs.
        var limbs: [UInt64] = [high >> 32, high & 0xFFFF_FFFF, low >> 32, low & 0xFFFF_FFFF]
        var digits: [Character] = []
        while limbs.contains(where: { $0 != 0 }) {
            var remainder: UInt64 = 0
            for i in limbs.indices {
                let value = remainder << 32 | limbs[i]
                limbs[i] = value / 10
                remainder = value % 10
            }
            digits.append(Character(String(remainder)))
        }
        return "2.25." + (digits.isEmpty ? "0" : String(digits.reversed()))
    }
}
