import ChainCore
import ChainSecurity
import RESP
#if canImport(Glibc)
import Glibc
#endif

/// A blocking RESP connection to one server, for tools and tests. One request at a time, or a
/// pipeline of many. Not thread-safe: use one per thread.
public final class RESPClient {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case connect(String, Int32)
        /// The host name did not resolve (the address, the resolver's reason).
        case unresolvable(String, String)
        case io(String, Int32)
        case closed
        case timeout
        case protocolError(RESPProtocolError)
        /// The server refused the credentials (its error reply).
        case auth(String)
        /// The TLS handshake or session failed.
        case tls(String)

        public var description: String {
            switch self {
            case let .connect(a, e): return "cannot connect to \(a): \(String(cString: strerror(e)))"
            case let .unresolvable(a, why): return "cannot resolve \(a): \(why)"
            case let .io(op, e): return "\(op) failed: \(String(cString: strerror(e)))"
            case .closed: return "connection closed by server"
            case .timeout: return "timed out waiting for a reply"
            case let .protocolError(e): return "bad reply: \(e)"
            case let .auth(e): return "authentication refused: \(e)"
            case let .tls(e): return "TLS: \(e)"
            }
        }
    }

    public let host: String
    public let port: UInt16
    private var fd: Int32 = -1
    private var parser = RESPReplyParser()
    /// Set when the connection speaks TLS.
    private var stream: TLSStream?

    /// Connects with a timeout for the connect and for every later read and write, runs the TLS
    /// handshake with `tls` (a client context; the server's certificate must name `host`), and
    /// authenticates first when given credentials.
    public init(host: String = "127.0.0.1", port: UInt16, timeoutMs: Int = 5000, credentials: Credentials? = nil,
                tls: TLSContext? = nil) throws(Failure) {
        self.host = host
        self.port = port
        let s: Int32
        do { s = try BlockingConnect.open(host: host, port: port, timeoutMs: timeoutMs) } catch {
            switch error {
            case let .unresolvable(why): throw .unresolvable(HostPortSyntax.format(host: host, port: port), why)
            case let .refused(e): throw .connect(HostPortSyntax.format(host: host, port: port), e)
            }
        }
        fd = s
        if let tls {
            do { stream = try TLSStream(fd: s, context: tls, serverName: host) } catch {
                close()
                throw .tls("\(host):\(port): \(error.message)")
            }
        }
        if let credentials, case let .error(e) = try call(credentials.authCommand) {
            close()
            throw .auth(e)
        }
    }

    deinit { close() }

    public func close() {
        stream?.close()
        stream = nil
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    public var isOpen: Bool { fd >= 0 }

    /// Sends one command and waits for its reply. Error replies come back as `.error`.
    public func call(_ args: [[UInt8]]) throws(Failure) -> RESPValue {
        try send(RESPWriter.command(args))
        return try readReply()
    }

    public func call(_ args: String...) throws(Failure) -> RESPValue {
        try call(args.map { Array($0.utf8) })
    }

    /// Sends every command in one write, then reads one reply per command.
    public func pipeline(_ commands: [[[UInt8]]]) throws(Failure) -> [RESPValue] {
        var w = RESPWriter()
        for c in commands { w.command(c) }
        try send(w.bytes)
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readReply()) }
        return replies
    }

    /// Writes raw bytes (for tests of malformed input).
    public func send(_ bytes: [UInt8]) throws(Failure) {
        guard fd >= 0 else { throw .closed }
        if let stream {
            switch bytes.withUnsafeBytes({ stream.write($0) }) {
            case nil: return
            case .timeout?: throw .timeout
            case .failed(let m)?: throw .tls(m)
            case .closed?, .bytes?: throw .closed
            }
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { throw .timeout }
                throw .io("send", errno)
            }
            off += n
        }
    }

    /// Reads the next reply.
    public func readReply() throws(Failure) -> RESPValue {
        while true {
            do {
                if let v = try parser.next() { return v }
            } catch {
                throw .protocolError(error)
            }
            try fill()
        }
    }

    /// Reads whatever arrives until the server closes the connection (for tests).
    public func readUntilClosed(limit: Int = 1 << 20) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = try receive(into: &buf)
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Waits for the next bytes from the server and returns them (raw protocol tests).
    public func readAvailable() throws(Failure) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = try receive(into: &buf)
        guard n > 0 else { throw .closed }
        return Array(buf[0..<n])
    }

    private func fill() throws(Failure) {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = try receive(into: &buf)
        guard n > 0 else { throw .closed }
        parser.append(contentsOf: buf[0..<n])
    }

    /// Waits for bytes (up to the timeout) and returns how many arrived; 0 when the server closed
    /// or reset the connection.
    private func receive(into buf: inout [UInt8]) throws(Failure) -> Int {
        guard fd >= 0 else { throw .closed }
        if let stream {
            switch buf.withUnsafeMutableBytes({ stream.read(into: $0) }) {
            case let .bytes(n): return n
            case .closed: return 0
            case .timeout: throw .timeout
            case let .failed(m): throw .tls(m)
            }
        }
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw .timeout }
            if errno == ECONNRESET { return 0 }
            throw .io("recv", errno)
        }
    }
}
