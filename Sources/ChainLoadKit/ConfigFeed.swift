import ChainClient
import ChainCore
import ChainSecurity
import Foundation
import Synchronization

/// The cluster's configuration as the master publishes it, kept current by a background thread
/// that long-polls `/v1/config?after=EPOCH` (so the event loops never wait on the master). Also
/// the record of when each new epoch arrived, for the timeline's event marks.
public final class ConfigFeed: Sendable {
    public let master: MasterEndpoints
    private let token: String?
    private let tls: TLSContext?
    private let state: Mutex<(version: Int, config: Configuration)>
    /// Bumped on every new configuration: loops compare it without taking the lock.
    private let versionCounter = Atomic<Int>(0)
    private let events = Mutex<[RunEvent]>([])
    private let stopped = Atomic<Bool>(false)
    private let start: Date

    /// Fetches the first configuration (throws when the master cannot be reached or has none
    /// yet), then follows the master until `stop()`.
    /// `token`: the master's API token, when it protects reads; `tls`: HTTPS to the master.
    public init(master: String, token: String? = nil, tls: TLSContext? = nil, start: Date = Date()) throws {
        guard let m = MasterEndpoints(master) else { throw LoadRunner.LoadError(message: "invalid master address '\(master)' (expected HOST:PORT[,HOST:PORT…])") }
        self.master = m
        self.token = token
        self.tls = tls
        self.start = start
        guard let first = try Self.fetch(m, token: token, tls: tls, after: 0, waitMs: 0) else {
            throw LoadRunner.LoadError(message: "the master at \(master) has no chain table yet (not enough nodes registered)")
        }
        state = Mutex((0, first))
        Thread.detachNewThread { [self] in follow(from: first.epoch) }
    }

    public var version: Int { versionCounter.load(ordering: .acquiring) }

    public var current: (version: Int, config: Configuration) { state.withLock { $0 } }

    /// Ends the watch and returns the epochs seen after the first, with their arrival times.
    public func stop() -> [RunEvent] {
        stopped.store(true, ordering: .relaxed)
        return events.withLock { $0 }
    }

    private func follow(from epoch: Epoch) {
        var epoch = epoch
        while !stopped.load(ordering: .relaxed) {
            guard let c = try? Self.fetch(master, token: token, tls: tls, after: epoch, waitMs: 1000) else { continue }
            guard c.epoch > epoch else { continue }
            epoch = c.epoch
            let old = state.withLock { s -> Configuration in
                defer { s = (s.version + 1, c) }
                return s.config
            }
            versionCounter.add(1, ordering: .releasing)
            let label = "epoch \(c.epoch): " + ConfigurationChange.summary(from: old, to: c)
            events.withLock { $0.append(RunEvent(t: Date().timeIntervalSince(start), label: label)) }
        }
    }

    /// One long poll: the configuration newer than `after`, nil when none came (or none exists).
    private static func fetch(_ m: MasterEndpoints, token: String?, tls: TLSContext?, after: Epoch, waitMs: Int) throws -> Configuration? {
        let r: HTTPClient.Response
        do { r = try m.request(method: "GET", path: "/v1/config?after=\(after)&timeout_ms=\(waitMs)", timeoutMs: waitMs + 3000, token: token, tls: tls) } catch {
            usleep(200_000)
            throw LoadRunner.LoadError(message: "master \(m): \(error)")
        }
        if r.status == 204 || r.status == 304 { return nil }
        if r.status == 401 { throw LoadRunner.LoadError(message: "the master at \(m) wants its API token (--token-file)") }
        guard r.status == 200, let c = try? JSONDecoder().decode(Configuration.self, from: Data(r.body)) else {
            usleep(200_000)
            throw LoadRunner.LoadError(message: "master \(m): unexpected answer \(r.status)")
        }
        return c
    }
}
