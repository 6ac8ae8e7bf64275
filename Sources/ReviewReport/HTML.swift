/// HTML text helpers.
enum HTML {
    /// Escapes text for element content and double-quoted attributes.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}

/// Number formatting for the report (fixed decimals, no locale, no exponent).
public enum Report {
    public static func number(_ v: Double, decimals: Int) -> String {
        guard v.isFinite else { return v > 0 ? "∞" : "−∞" }
        var p = 1.0
        for _ in 0..<decimals { p *= 10 }
        let scaled = (abs(v) * p).rounded()
        let negative = v < 0 && scaled != 0
        let whole = Int(scaled / p), frac = Int(scaled) - whole * Int(p)
        var s = String(whole)
        if decimals > 0 {
            let f = String(frac)
            s += "." + String(repeating: "0", count: decimals - f.count) + f
        }
        return negative ? "−" + s : s
    }

    /// Days as a whole number.
    public static func days(_ v: Double) -> String { number(v, decimals: 0) }

    /// The sentence on every page.
    public static let disclaimer = "NoduleKit supports clinicians; it does not diagnose. Every figure here is a measurement with an uncertainty, made by a classical image-processing pipeline on radiographs, for review by a qualified radiologist. It is not a medical device, has not been clinically validated, and must not be used on its own to decide care."
}
