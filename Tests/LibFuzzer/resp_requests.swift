// libFuzzer entry point for the RESP request parser (built by deploy/fuzz.sh together with
// Sources/RESP, not part of the package): any bytes, split at a point the input chooses.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRESPRequests(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var p = RESPCommandParser(limits: RESPLimits(maxBulkBytes: 1 << 20, maxArgumentBytes: 4096, maxArrayLength: 1024))
    for piece in [bytes[..<cut], bytes[cut...]] {
        p.append(contentsOf: piece)
        for _ in 0..<10_000 {
            guard let cmd = try? p.next() else { break }
            precondition(cmd.args.count <= 1024)
        }
    }
    var r = RESPReplyParser(limits: RESPLimits(maxBulkBytes: 1 << 20, maxArrayLength: 1024, maxDepth: 16))
    r.append(contentsOf: bytes)
    for _ in 0..<10_000 { guard (try? r.next()) != nil else { break } }
    return 0
}
