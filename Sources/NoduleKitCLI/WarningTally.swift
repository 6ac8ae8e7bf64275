/// A run's warnings counted by kind, for the end of `nodules batch` and `nodules detect`: on an archive of thousands
/// of images, what needs a look (unknown spacings, lateral views, one-lung fields) should not
/// have to be dug out of the JSON Lines. A warning's kind is its text with numbers and quoted
/// values blanked (`View Position 'LL' …` and `… 'RL' …` are one kind), cut at 110 characters.
struct WarningTally {
    /// Kind → images with at least one warning of that kind.
    private(set) var images: [String: Int] = [:]
    private(set) var imagesWithWarnings = 0

    mutating func add(_ warnings: [String]) {
        guard !warnings.isEmpty else { return }
        imagesWithWarnings += 1
        for kind in Set(warnings.map(Self.kind)) { images[kind, default: 0] += 1 }
    }

    static func kind(_ warning: String) -> String {
        var out = ""
        var inQuote = false, inNumber = false
        for c in warning {
            if c == "'" {
                if !inQuote { out += "'…'" }
                inQuote.toggle()
                continue
            }
            if inQuote { continue }
            // A number stands alone (MONOCHROME2 and ISO_IR 100's digits are part of a name).
            if c.isASCII && c.isNumber && (inNumber || !(out.last?.isLetter ?? false)) || (inNumber && c == ".") {
                if !inNumber { out += "#" }
                inNumber = true
                continue
            }
            inNumber = false
            out.append(c)
        }
        return out.count > 110 ? String(out.prefix(109)) + "…" : out
    }

    /// Lines for the summary: how many images have warnings, then the `limit` commonest kinds.
    func summary(limit: Int = 6) -> String {
        guard imagesWithWarnings > 0 else { return "" }
        let kinds = images.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        var text = "warnings on \(imagesWithWarnings) image\(imagesWithWarnings == 1 ? "" : "s") (each is in its record's \"warnings\"):\n"
        for (kind, count) in kinds.prefix(limit) { text += "  \(count) × \(kind)\n" }
        if kinds.count > limit { text += "  and \(kinds.count - limit) other kind\(kinds.count - limit == 1 ? "" : "s")\n" }
        return text
    }
}
