#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// DICOM string values to Swift strings: character set conversion to UTF-8
/// and padding removal.
///
/// Source: DICOM PS3.5 §6.1 (Specific Character Set (0008,0005) defined terms)
/// and §6.2 (values padded with a trailing space, UIDs with a trailing NUL;
/// leading and trailing spaces of LO/SH/CS/DS/IS are not significant).
enum DICOMText {
    /// Strips leading and trailing spaces and NULs; ASCII only (UIDs, numbers, code strings).
    static func trimmed(ascii bytes: some Collection<UInt8>) -> String {
        trim(String(decoding: bytes, as: UTF8.self))
    }

    /// ``trimmed(ascii:)``, or `nil` when nothing is left: an ASCII value (a code string such as
    /// Modality or View Position) as both the header walk and the decoded attributes read it.
    static func nonEmpty(ascii bytes: some Collection<UInt8>) -> String? {
        let text = trimmed(ascii: bytes)
        return text.isEmpty ? nil : text
    }

    static func trim(_ s: String) -> String {
        var scalars = Substring(s)
        while let first = scalars.first, first == " " || first == "\0" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\0" { scalars.removeLast() }
        return String(scalars)
    }

    /// Decodes a text value written in `characterSet` (the value of (0008,0005),
    /// backslash-separated when code extensions are used) to UTF-8 and trims it.
    /// Returns `nil` for an empty value.
    static func decode(_ bytes: [UInt8], characterSet: String?) -> String? {
        let text = trim(convert(bytes, characterSet: characterSet))
        return text.isEmpty ? nil : text
    }

    static func convert(_ bytes: [UInt8], characterSet: String?) -> String {
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        let terms = (characterSet ?? "").split(separator: "\\", omittingEmptySubsequences: false).map { trim(String($0)) }
        let term = terms.last { !$0.isEmpty } ?? ""
        switch term {
        case "ISO_IR 192":
            return String(decoding: bytes, as: UTF8.self)
        case "", "ISO_IR 6", "ISO_IR 100", "ISO 2022 IR 6", "ISO 2022 IR 100":
            // Latin-1 maps byte for byte onto U+0000…U+00FF. Non-ASCII bytes in the
            // default repertoire are invalid; Latin-1 is the usual intent.
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        default:
            if let name = iconvName(term), let text = iconv(bytes, from: name) { return text }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    static func iconvName(_ term: String) -> String? {
        let table: [String: String] = [
            "ISO_IR 101": "ISO-8859-2", "ISO_IR 109": "ISO-8859-3", "ISO_IR 110": "ISO-8859-4",
            "ISO_IR 144": "ISO-8859-5", "ISO_IR 127": "ISO-8859-6", "ISO_IR 126": "ISO-8859-7",
            "ISO_IR 138": "ISO-8859-8", "ISO_IR 148": "ISO-8859-9", "ISO_IR 203": "ISO-8859-15",
            "ISO_IR 166": "TIS-620", "ISO_IR 13": "SHIFT_JIS", "GB18030": "GB18030", "GBK": "GBK",
            "ISO 2022 IR 87": "ISO-2022-JP", "ISO 2022 IR 159": "ISO-2022-JP-2", "ISO 2022 IR 149": "ISO-2022-KR",
            "ISO 2022 IR 58": "ISO-2022-CN",
        ]
        return table[term] ?? (term.hasPrefix("ISO 2022 IR 1") ? table["ISO_IR " + term.dropFirst("ISO 2022 IR ".count)] : nil)
    }

    /// glibc iconv to UTF-8; `nil` when the conversion is unknown or fails.
    static func iconv(_ bytes: [UInt8], from encoding: String) -> String? {
        let cd = iconv_open("UTF-8", encoding)
        guard cd != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(cd) }
        var input = bytes.map { CChar(bitPattern: $0) }
        var output = [CChar](repeating: 0, count: bytes.count * 4 + 16)
        let capacity = output.count
        let produced: Int? = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                var inPtr: UnsafeMutablePointer<CChar>? = inBuf.baseAddress
                var inLeft = inBuf.count
                var outPtr: UnsafeMutablePointer<CChar>? = outBuf.baseAddress
                var outLeft = capacity
                let result = Glibc.iconv(cd, &inPtr, &inLeft, &outPtr, &outLeft)
                return result == -1 || inLeft != 0 ? nil : capacity - outLeft
            }
        }
        guard let produced else { return nil }
        return String(decoding: output[..<produced].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
