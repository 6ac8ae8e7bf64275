import CZlib

/// The data set of a Deflated Explicit VR Little Endian file (PS3.5 A.5): everything after the
/// File Meta Information is one raw deflate stream, inflated here so ``DICOMPreflight`` can walk
/// it like any explicit little endian data set.
enum DeflatedDataSet {
    /// The inflated bytes, at most `limit` of them (a bound on memory: a small file can inflate to
    /// far more), and whether inflation stopped at that limit rather than at the stream's end or
    /// the file's. Throws `DecodingFailure.corrupt` when zlib finds the stream invalid.
    static func inflate(_ deflated: ArraySlice<UInt8>, limit: Int) throws -> (bytes: [UInt8], reachedLimit: Bool) {
        var stream = z_stream()
        guard cxr_zlib_inflate_init_raw(&stream) == Z_OK else {
            throw DecodingFailure.corrupt(detail: "deflated data set: zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status = Z_OK
        deflated.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            while status == Z_OK && out.count < limit {
                chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(min(buffer.count, limit - out.count))
                    let offered = Int(stream.avail_out)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    out.append(contentsOf: buffer[0..<(offered - Int(stream.avail_out))])
                }
            }
        }
        switch status {
        case Z_OK, Z_STREAM_END, Z_BUF_ERROR:  // at the limit, at the stream's end, or the input ran out (truncated)
            return (out, status == Z_OK && out.count >= limit)
        default:
            let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
            throw DecodingFailure.corrupt(detail: "deflated data set: \(message)")
        }
    }
}
