internal import CLibevent
import ChainSecurity
#if canImport(Glibc)
import Glibc
#endif

/// A TCP connection driven by a libevent bufferevent. Loop-thread only.
///
/// Lifecycle: open → (closing: flushing output before close) → closed. `onClose` is called exactly
/// once, whichever side ends it, and no other callback follows it.
public final class Connection {
    /// Why a connection ended, as the transport saw it. Servers map these to their own reasons.
    public enum End: Equatable, Sendable {
        /// The peer closed its side (EOF).
        case peerClosed
        /// A socket error (errno).
        case error(Int32)
        /// A bufferevent timeout fired (none is set by this module today).
        case timeout
        /// `close()` or `closeAfterFlush()` was called on this side.
        case closedLocally
        /// An outbound connect failed.
        case connectFailed(Int32)
        /// The TLS handshake or a TLS record failed (OpenSSL's reason).
        case tls(String)
        /// The peer's host name did not resolve (the resolver's reason).
        case unresolvable(String)
    }

    public let loop: EventLoop
    public let peer: SocketAddress?
    public var onRead: ((Connection) -> Void)?
    /// Output fully handed to the kernel.
    public var onDrained: ((Connection) -> Void)?
    public var onConnected: ((Connection) -> Void)?
    public var onClose: ((Connection, End) -> Void)?
    /// Free slot for the owner of the connection (a session, a peer link).
    public var context: AnyObject?

    private var bev: OpaquePointer?
    /// Plaintext connections read the socket themselves once established: one `recv` per
    /// readable event into the loop's scratch buffer. A bufferevent asks the kernel how much is
    /// readable (`ioctl(FIONREAD)`) before every read and copies through its own buffer chain;
    /// on the write path every request paid for both. Writing, connecting and error reporting
    /// stay with the bufferevent.
    private var readEvent: OpaquePointer?
    /// Bytes of the loop's scratch buffer received in the current read callback, not consumed yet.
    private var scratchBytes = 0
    /// Received bytes the owner did not consume in its read callback.
    private var unread: [UInt8] = []
    private var closingAfterFlush = false
    /// The owner asked not to be handed more input for now (`pauseReading`).
    private var readingPaused = false
    /// False only for an outbound connection whose connect has not completed yet.
    private var established: Bool
    /// TLS connections write through OpenSSL only (no direct `send` on the socket).
    public let isTLS: Bool

    init(loop: EventLoop, bev: OpaquePointer, peer: SocketAddress?, established: Bool, tls: Bool = false) {
        self.loop = loop
        self.established = established
        self.isTLS = tls
        self.bev = bev
        self.peer = peer
        loop.retain(self)
        let me = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, arg in
            let c = Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(c) { c.onRead?(c) }
        }, { _, arg in
            let c = Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(c) { c.handleDrained() }
        }, { _, what, arg in
            let c = Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(c) { c.handleEvent(what) }
        }, me)
    }

    /// Starts an outbound connection (TLS with `tls`, checking that the server's certificate
    /// chains to the context's CA and names `serverName`, by default the address's host);
    /// `onConnected` or `onClose` follows. A host name is resolved on a background queue and the
    /// connect made when the answer is back on the loop (to the first address; a caller that
    /// retries resolves again).
    public static func connect(loop: EventLoop, to address: SocketAddress, tls: TLSContext? = nil,
                               serverName: String? = nil) throws(EventLoopError) -> Connection {
        loop.assertInLoop()
        let options = Int32(BEV_OPT_CLOSE_ON_FREE.rawValue)
        let made: OpaquePointer?
        if let tls {
            guard let ssl = tls.newSSL(serverName: serverName ?? address.host) else { throw .tls("SSL_new: \(TLSContext.lastError())") }
            made = bufferevent_openssl_socket_new(loop.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, options)
        } else {
            made = bufferevent_socket_new(loop.base, -1, options)
        }
        guard let bev = made else { throw .call("bufferevent_socket_new", errno: errno) }
        let conn = Connection(loop: loop, bev: bev, peer: address, established: false, tls: tls != nil)
        guard address.isNumeric else {
            address.resolve(on: loop) { [conn] result in
                guard conn.bev != nil else { return }  // closed meanwhile
                switch result {
                case let .success(found): conn.start(connectingTo: found[0])
                case let .failure(e): conn.finish(.unresolvable("\(e)"))
                }
            }
            return conn
        }
        if let e = conn.connect(to: address) {
            conn.release()
            throw .call("connect \(address)", errno: e)
        }
        conn.enableIO()
        return conn
    }

    /// The connect call itself; the errno when it failed at once.
    private func connect(to address: SocketAddress) -> Int32? {
        guard let bev else { return EBADF }
        let rc = address.withSockAddr { sa, len in bufferevent_socket_connect(bev, sa, len) } ?? -1
        return rc == 0 ? nil : errno
    }

    /// Connects once a name resolved; a failure ends the connection like a refused connect.
    private func start(connectingTo address: SocketAddress) {
        if let e = connect(to: address) { return finish(.connectFailed(e)) }
        enableIO()
    }

    public var isOpen: Bool { bev != nil && !closingAfterFlush }

    /// Bytes queued for sending.
    public var outputBytes: Int {
        guard let bev else { return 0 }
        return evbuffer_get_length(bufferevent_get_output(bev))
    }

    /// Moves every received byte to the end of `buffer`; returns how many.
    @discardableResult
    public func read(appendingTo buffer: inout [UInt8]) -> Int {
        var n = 0
        consumeInput { bytes in
            buffer.append(contentsOf: bytes)
            n = bytes.count
        }
        return n
    }

    /// Hands every received byte to `body` in place (no copy into Swift memory), then drops them.
    public func consumeInput(_ body: (UnsafeRawBufferPointer) -> Void) {
        guard let bev else { return }
        let input = bufferevent_get_input(bev)
        if case let n = evbuffer_get_length(input), n > 0, let p = evbuffer_pullup(input, -1) {
            // TLS: the bufferevent reads (a plaintext connection moved what it had read into
            // `unread` when it took reading over, so its input buffer stays empty).
            body(UnsafeRawBufferPointer(start: p, count: n))
            evbuffer_drain(input, n)
            return
        }
        if scratchBytes > 0 {
            let fresh = UnsafeRawBufferPointer(rebasing: loop.readScratch[0..<scratchBytes])
            scratchBytes = 0
            if unread.isEmpty {
                body(fresh)
                return
            }
            unread.append(contentsOf: fresh)
        }
        guard !unread.isEmpty else { return }
        unread.withUnsafeBytes { body($0) }
        unread.removeAll(keepingCapacity: unread.capacity <= 1 << 16)
    }

    /// Queues `bytes` for sending. When nothing is queued already, the bytes are first offered to
    /// the socket directly: in the common case they all fit, which saves the bufferevent a loop
    /// iteration and two epoll_ctl calls to watch for writability.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard let bev, !closingAfterFlush, bytes.count > 0, let base = bytes.baseAddress else { return }
        var offset = 0
        if established && !isTLS && evbuffer_get_length(bufferevent_get_output(bev)) == 0 {
            let n = send(chainstore_bufferevent_fd(bev), base, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n > 0 { offset = n }
            // On EAGAIN or any error the bufferevent gets everything and reports errors itself.
        }
        if offset < bytes.count {
            bufferevent_write(bev, base + offset, bytes.count - offset)
        }
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Stops reading, sends what is queued, then closes.
    public func closeAfterFlush() {
        guard let bev, !closingAfterFlush else { return }
        closingAfterFlush = true
        bufferevent_disable(bev, Int16(EV_READ))
        if let readEvent { event_del(readEvent) }
        if outputBytes == 0 { finish(.closedLocally) }
    }

    /// Stops taking input from the socket until `resumeReading` (the owner has a backlog to work
    /// through first; the peer's sends block once the kernel's buffers fill).
    public func pauseReading() {
        guard let bev, !readingPaused, !closingAfterFlush else { return }
        readingPaused = true
        if let readEvent { event_del(readEvent) } else { bufferevent_disable(bev, Int16(EV_READ)) }
    }

    /// Takes input again after `pauseReading`.
    public func resumeReading() {
        guard readingPaused, let bev, !closingAfterFlush else { return }
        readingPaused = false
        if let readEvent { event_add(readEvent, nil) } else { bufferevent_enable(bev, Int16(EV_READ)) }
    }

    /// Closes now, dropping queued output.
    public func close() { finish(.closedLocally) }

    func enableIO() {
        guard let bev else { return }
        if established && !isTLS {
            bufferevent_enable(bev, Int16(EV_WRITE))
            readDirectly()
        } else {
            bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
        }
    }

    /// Takes reading over from the bufferevent (plaintext, established connections only).
    private func readDirectly() {
        guard let bev, readEvent == nil else { return }
        bufferevent_disable(bev, Int16(EV_READ))
        // Anything the bufferevent read before (possible only while connecting) comes first.
        let input = bufferevent_get_input(bev)
        if case let n = evbuffer_get_length(input), n > 0, let p = evbuffer_pullup(input, -1) {
            unread.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
            evbuffer_drain(input, n)
        }
        let me = Unmanaged.passUnretained(self).toOpaque()
        readEvent = event_new(loop.base, chainstore_bufferevent_fd(bev), Int16(EV_READ | EV_PERSIST), { _, _, arg in
            let c = Unmanaged<Connection>.fromOpaque(arg!).takeUnretainedValue()
            withExtendedLifetime(c) { c.socketReadable() }
        }, me)
        if readingPaused { return }
        if let readEvent { event_add(readEvent, nil) } else { bufferevent_enable(bev, Int16(EV_READ)) }
    }

    private func socketReadable() {
        guard let bev else { return }
        let scratch = loop.readScratch
        let n = recv(chainstore_bufferevent_fd(bev), scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
        if n > 0 {
            scratchBytes = n
            onRead?(self)
            if scratchBytes > 0 {
                // Not consumed in the callback: keep it, the scratch buffer is the next reader's.
                unread.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[0..<scratchBytes]))
                scratchBytes = 0
            }
        } else if n == 0 {
            finish(.peerClosed)
        } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            finish(.error(errno))
        }
    }

    /// Makes a dead path show: keepalive probes on an idle connection after `ms`, and the
    /// connection fails (`.error(ETIMEDOUT)`) when sent data — or a probe, or a connection
    /// attempt — goes unacknowledged for `ms`. Without this a link whose packets are silently
    /// dropped looks open for many minutes.
    public func failUnacknowledged(afterMs ms: Int) {
        guard let bev else { return }
        let fd = chainstore_bufferevent_fd(bev)
        guard fd >= 0 else { return }
        func set(_ level: Int32, _ name: Int32, _ value: Int32) {
            var v = value
            setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
        }
        let seconds = Int32(max(1, ms / 1000))
        set(SOL_SOCKET, SO_KEEPALIVE, 1)
        set(Int32(IPPROTO_TCP), TCP_KEEPIDLE, seconds)
        set(Int32(IPPROTO_TCP), TCP_KEEPINTVL, max(1, seconds / 2))
        set(Int32(IPPROTO_TCP), TCP_KEEPCNT, 2)
        set(Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, Int32(ms))
    }

    func setNoDelay() {
        guard let bev else { return }
        var one: Int32 = 1
        setsockopt(chainstore_bufferevent_fd(bev), Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private func handleDrained() {
        if closingAfterFlush { finish(.closedLocally); return }
        onDrained?(self)
    }

    private func handleEvent(_ what: Int16) {
        let w = Int32(what)
        if w & Int32(BEV_EVENT_CONNECTED) != 0 {
            established = true
            setNoDelay()
            if !isTLS { readDirectly() }
            onConnected?(self)
            return
        }
        let err = errno
        if isTLS && w & Int32(BEV_EVENT_ERROR) != 0, let bev, case let code = bufferevent_get_openssl_error(bev), code != 0 {
            let reason = TLSContext.errorText(code)
            while bufferevent_get_openssl_error(bev) != 0 {}
            finish(.tls(reason))
            return
        }
        if w & Int32(BEV_EVENT_EOF) != 0 { finish(.peerClosed) }
        else if w & Int32(BEV_EVENT_TIMEOUT) != 0 { finish(.timeout) }
        else if !established { finish(.connectFailed(err)) }
        else { finish(.error(err)) }
    }

    private func finish(_ end: End) {
        guard bev != nil else { return }
        release()
        let cb = onClose
        onClose = nil
        onRead = nil
        onDrained = nil
        onConnected = nil
        cb?(self, end)
        context = nil
    }

    /// Frees the bufferevent (no callback can follow), then lets the loop forget this object.
    private func release() {
        if let readEvent { event_free(readEvent) }
        readEvent = nil
        scratchBytes = 0
        if let bev { bufferevent_free(bev) }
        bev = nil
        loop.release(self)
    }
}
