internal import COpenSSL

/// SHA-256 over data that arrives in pieces (a backup file as it is written or read back).
public final class SHA256Hasher {
    private let ctx: OpaquePointer

    public init() {
        ctx = EVP_MD_CTX_new()!
        precondition(EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(sha256) failed")
    }

    deinit { EVP_MD_CTX_free(ctx) }

    public func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { b in
            _ = EVP_DigestUpdate(ctx, b.baseAddress, b.count)
        }
        if done == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { _ = EVP_DigestUpdate(ctx, $0.baseAddress, $0.count) }
        }
    }

    /// The digest as 64 lowercase hex digits; the hasher is spent afterwards.
    public func finishHex() -> String {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 32
        _ = EVP_DigestFinal_ex(ctx, &out, &len)
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: out.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }
}
