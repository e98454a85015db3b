internal import CLibevent
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// libevent must be told to use pthread locks before the first `event_base` exists, so that
/// `event_active` from another thread (the submit path) is safe. A global `let` runs once.
private let libeventThreadingReady: Bool = evthread_use_pthreads() == 0

/// One `event_base` driven by one thread.
///
/// Thread rule: every method except `submit` and `stop` must be called on the loop thread (the
/// thread inside `run()`), and every callback runs there. `submit` is the only way in from other
/// threads. That rule is what makes the `@unchecked Sendable` below sound; `assertInLoop` checks it
/// in debug builds.
///
/// Ownership rule for C callbacks: every Swift object that registers a callback (connection,
/// listener, timer, HTTP server) owns its C object, passes itself *unretained* as the callback
/// argument, and is kept alive by the loop's `registry` until it is closed. Closing frees the C
/// object first (after which libevent makes no further callback) and only then drops the registry
/// reference, so a callback can never reach a freed Swift object. Trampolines hold a strong local
/// reference for the duration of the callback, so an object closing itself inside its own
/// callback stays valid until the callback returns.
public final class EventLoop: @unchecked Sendable {
    let base: OpaquePointer
    // Created in init after `self` exists, because `self` is their callback argument.
    private var wakeEvent: OpaquePointer!
    private let submitted = Mutex<[@Sendable () -> Void]>([])
    /// A closure in a struct: kept in an array as a bare function value, each one added was
    /// wrapped in a reabstraction thunk (an allocation per handler per turn).
    private struct Handler { let run: () -> Void }
    private var endOfTurnHandlers: [Handler] = []
    /// The handlers being run, swapped with `endOfTurnHandlers`: a copy of the list taken
    /// while emptying it in place made the emptied list reallocate every turn.
    private var runningHandlers: [Handler] = []
    private var stopping = false
    private var loopThread: pthread_t?
    var registry: [ObjectIdentifier: AnyObject] = [:]
    /// Where plaintext connections receive (loop thread only; each read callback consumes or
    /// copies out what it got before the next connection reads).
    let readScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)

    public init() throws(EventLoopError) {
        precondition(libeventThreadingReady, "evthread_use_pthreads failed")
        guard let base = event_base_new() else { throw .call("event_base_new", errno: errno) }
        self.base = base
        let me = Unmanaged.passUnretained(self).toOpaque()
        let wake = event_new(base, -1, Int16(EV_PERSIST), { _, _, arg in
            Unmanaged<EventLoop>.fromOpaque(arg!).takeUnretainedValue().runSubmitted()
        }, me)
        guard let wake else { throw .call("event_new", errno: errno) }
        event_add(wake, nil)
        self.wakeEvent = wake
    }

    deinit {
        event_free(wakeEvent)
        event_base_free(base)
        readScratch.deallocate()
    }

    /// Runs the loop on the calling thread until `stop()`.
    ///
    /// Each turn waits for events, runs every ready callback, then runs the end-of-turn handlers
    /// (Redis's beforeSleep). Driving libevent one iteration at a time guarantees the handlers
    /// run after every iteration; a low-priority event would starve under constant traffic.
    public func run() {
        loopThread = pthread_self()
        while !stopping {
            let flags = endOfTurnHandlers.isEmpty ? EVLOOP_ONCE : EVLOOP_NONBLOCK
            if event_base_loop(base, flags) < 0 { break }
            runEndOfTurn()
        }
        runSubmitted()
        runEndOfTurn()
        loopThread = nil
    }

    /// Stops the loop after the current turn. Safe from any thread.
    public func stop() {
        submit { [unowned self] in
            stopping = true
            event_base_loopbreak(base)
        }
    }

    /// Runs `work` on the loop thread soon. Safe from any thread.
    public func submit(_ work: @escaping @Sendable () -> Void) {
        submitted.withLock { $0.append(work) }
        event_active(wakeEvent, 0, 0)
    }

    /// Runs `handler` once after every I/O callback of this loop turn has run. Used to flush a
    /// turn's writes as one batch and to hand replies to the kernel together.
    public func atEndOfTurn(_ handler: @escaping () -> Void) {
        assertInLoop()
        endOfTurnHandlers.append(Handler(run: handler))
    }

    public var isInLoop: Bool {
        guard let t = loopThread else { return false }
        return pthread_equal(t, pthread_self()) != 0
    }

    @inline(__always) public func assertInLoop() {
        assert(loopThread == nil || isInLoop, "called off the event loop thread")
    }

    private func runSubmitted() {
        let work = submitted.withLock { q -> [@Sendable () -> Void] in
            let w = q
            q.removeAll(keepingCapacity: true)
            return w
        }
        for item in work { item() }
    }

    /// Runs the end-of-turn handlers, and those they queue (a store write that completes on the
    /// loop queues the acknowledgements it allows), a few rounds deep; anything queued after
    /// that runs after the next non-blocking poll.
    private func runEndOfTurn() {
        var rounds = 0
        while !endOfTurnHandlers.isEmpty && rounds < 4 {
            rounds += 1
            swap(&endOfTurnHandlers, &runningHandlers)
            for h in runningHandlers { h.run() }
            runningHandlers.removeAll(keepingCapacity: true)
        }
    }


    func retain(_ object: AnyObject) { registry[ObjectIdentifier(object)] = object }
    func release(_ object: AnyObject) { registry.removeValue(forKey: ObjectIdentifier(object)) }
}

