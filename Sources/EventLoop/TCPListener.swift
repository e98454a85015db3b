internal import CLibevent
import ChainSecurity
#if canImport(Glibc)
import Glibc
#endif

/// Accepts TCP connections on one address and hands each to `onAccept` as a `Connection`.
public final class TCPListener {
    public let loop: EventLoop
    /// The bound address (with the real port when 0 was asked for).
    public private(set) var address: SocketAddress
    private var listener: OpaquePointer?
    private let onAccept: (Connection) -> Void
    /// Accepted connections speak TLS with this server context.
    private let tls: TLSContext?

    public init(loop: EventLoop, address: SocketAddress, backlog: Int32 = 511, tls: TLSContext? = nil,
                onAccept: @escaping (Connection) -> Void) throws(EventLoopError) {
        loop.assertInLoop()
        self.loop = loop
        self.tls = tls
        self.address = address
        self.onAccept = onAccept
        let me = Unmanaged.passUnretained(self).toOpaque()
        let flags = UInt32(LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC)
        // A name is resolved here, once, at start-up (before the loop serves anything).
        let bindTo = try address.resolve()[0]
        let l = bindTo.withSockAddr { sa, len in
            evconnlistener_new_bind(loop.base, { _, fd, sa, _, arg in
                let me = Unmanaged<TCPListener>.fromOpaque(arg!).takeUnretainedValue()
                withExtendedLifetime(me) { me.accepted(fd: fd, sa: sa) }
            }, me, flags, backlog, sa, len)
        } ?? nil
        guard let l else { throw .call("listen on \(address)", errno: errno) }
        listener = l
        // Accept errors (EMFILE and friends) must not stop the listener; they are transient.
        evconnlistener_set_error_cb(l, { _, _ in })
        if let bound = SocketAddress.local(of: evconnlistener_get_fd(l)) { self.address = bound }
        loop.retain(self)
    }

    /// Stops listening; already accepted connections are not affected.
    public func close() {
        guard let l = listener else { return }
        evconnlistener_free(l)
        listener = nil
        loop.release(self)
    }

    private func accepted(fd: Int32, sa: UnsafeMutablePointer<sockaddr>?) {
        let options = Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)
        let made: OpaquePointer?
        if let tls {
            guard let ssl = tls.newSSL() else {
                Glibc.close(fd)
                return
            }
            made = bufferevent_openssl_socket_new(loop.base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, options)
        } else {
            made = bufferevent_socket_new(loop.base, fd, options)
        }
        guard let bev = made else {
            Glibc.close(fd)
            return
        }
        let conn = Connection(loop: loop, bev: bev, peer: SocketAddress.from(UnsafePointer(sa)), established: true, tls: tls != nil)
        conn.setNoDelay()
        conn.enableIO()
        onAccept(conn)
    }
}
