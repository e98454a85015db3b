#if canImport(Glibc)
import Glibc
#endif

/// A failed libevent or socket call, named after the call, with the errno text when there is one.
public enum EventLoopError: Error, CustomStringConvertible, Equatable {
    case call(String, errno: Int32)
    case invalidAddress(String)
    /// A host name that DNS could not resolve (the address, the resolver's reason).
    case unresolvable(String, String)
    /// A TLS setup step failed (OpenSSL's reason).
    case tls(String)

    public var description: String {
        switch self {
        case let .call(name, code):
            return code == 0 ? "\(name) failed" : "\(name) failed: \(String(cString: strerror(code)))"
        case let .tls(m):
            return "TLS: \(m)"
        case let .invalidAddress(a):
            return "invalid address '\(a)' (expected HOST:PORT: an IPv4 address, [IPv6] or a DNS name)"
        case let .unresolvable(a, why):
            return "cannot resolve \(a): \(why)"
        }
    }
}
