#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP connect for the tools' own threads (never an event loop): resolves the host
/// (IPv4 or IPv6 literal, or a DNS name) and tries its addresses in the resolver's order until
/// one accepts, with `timeoutMs` for the connect and for every later read and write.
enum BlockingConnect {
    enum Failure: Error {
        case unresolvable(String)
        case refused(Int32)
    }

    static func open(host: String, port: UInt16, timeoutMs: Int) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        // localhost is IPv4 loopback, as the servers take it (their `localhost` binds 127.0.0.1).
        let rc = getaddrinfo(host == "localhost" ? "127.0.0.1" : host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw .unresolvable(String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(first) }
        var lastError: Int32 = ECONNREFUSED
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let ai = next {
            next = ai.pointee.ai_next
            let s = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
            guard s >= 0 else { lastError = errno; continue }
            var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return s }
            lastError = errno
            Glibc.close(s)
        }
        throw .refused(lastError)
    }
}
