/// A small RFC 4180 reader: commas, double quotes (`""` inside quotes), CRLF or LF,
/// newlines inside quoted fields, a leading byte-order mark. Returns each record with its first
/// line number. Shared by the batch manifest and `nodules evaluate`'s CSV truth.
public enum CSVRecords {
    public enum Failure: Error, Equatable { case unterminatedQuote(line: Int) }

    public static func parse(_ text: String) throws -> [(line: Int, fields: [String])] {
        var records: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var line = 1, recordLine = 1
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var i = 0
        var fieldStarted = false
        func endRecord() {
            fields.append(field)
            records.append((recordLine, fields))
            fields = []
            field = ""
            fieldStarted = false
        }
        while i < scalars.count {
            let c = scalars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < scalars.count, scalars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "\"" where field.isEmpty: inQuotes = true; fieldStarted = true
                case ",": fields.append(field); field = ""; fieldStarted = true
                case "\r": break
                case "\n":
                    if fieldStarted || !field.isEmpty || !fields.isEmpty { endRecord() }
                    line += 1
                    recordLine = line
                default: field.unicodeScalars.append(c); fieldStarted = true
                }
            }
            i += 1
        }
        if inQuotes { throw Failure.unterminatedQuote(line: recordLine) }
        if fieldStarted || !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}
