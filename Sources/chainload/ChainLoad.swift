import ArgumentParser
import ChainCLI
import ChainClient
import ChainCore
import ChainLoadKit
import ChainVersion
import ChainSecurity
import EventLoop
import Foundation
import Synchronization

@main
struct ChainLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainload",
        abstract: "Load generator for chainstore (smart client) and any RESP server.",
        discussion: """
        Targets: --master HOST:PORT (a chainstore cluster, routed by the smart client) or --resp HOST:PORT \
        (any RESP server; --resp-read sends reads elsewhere; --wait-replicas N follows each SET with WAIT N 0).
        """,
        version: "chainload \(BuildInfo.description)")

    @Option(help: "chainstore master (HOST:PORT, or several comma-separated); default $CHAIN_MASTER.") var master: String?
    @Option(help: "A RESP endpoint (HOST:PORT) instead of a cluster.") var resp: String?
    @Option(name: .customLong("resp-read"), help: "Send reads to this RESP endpoint (e.g. a Redis replica).") var respRead: String?
    @Option(name: .customLong("wait-replicas"), help: "With --resp: follow every SET with WAIT N 0.") var waitReplicas: Int = 0
    @Flag(name: .customLong("untagged-writes"), help: "With --master: send plain SETs without the idempotency tag, as a plain Redis client does. A write retried after a lost reply may then apply twice, and the nodes keep no record of it: measures what exactly-once retries cost.")
    var untaggedWrites = false
    @Option(help: "YCSB a (50/50 reads/updates), b (95/5), c (read only), d (95% reads of the latest keys, 5% inserts), f (50% reads, 50% read-modify-writes), or w (write only).") var workload: String = "b"
    @Option(help: "A custom mix instead of --workload, e.g. get=90,set=10 (operations get, set, insert, rmw).") var mix: String?
    @Option(help: "Measured seconds.") var duration: Double = 10
    @Option(help: "Seconds of load before measuring.") var warmup: Double = 1
    @Option(help: "Stop after about this many operations.") var ops: Int?
    @Option(help: "Concurrent clients (one connection each).") var clients: Int = 50
    @Option(help: "Open loop: send this many operations per second in total, on schedule, and measure latency from each operation's intended send time (so stalls are not hidden). Default: closed loop.")
    var rate: Double?
    @Option(help: "Operations in flight per client.") var pipeline: Int = 1
    @Option(help: "Event-loop threads the clients are spread over.") var threads: Int = 1
    @Option(name: .customLong("timeout-ms"), help: "A request with no answer for this long fails (RESP targets) or is retried (clusters).")
    var timeoutMs: Int = 5000
    @Option(name: .customLong("token-file"), help: "File holding the master's API token (when it protects reads).") var tokenFile: String?
    @Option(help: "User to authenticate as on the nodes or the RESP server (with --password-file).") var user: String?
    @Option(name: .customLong("password-file"), help: "File holding the password to AUTH with.") var passwordFile: String?
    @OptionGroup(title: "TLS (to the master and the nodes, or to the RESP server)") var tlsFlags: ClientTLSFlags
    @Option(help: "Key space size.") var keys: Int = 100_000
    @Option(name: .customLong("value-bytes"), help: "Value size in bytes, or a range MIN-MAX to draw each write's size from.") var valueBytesText: String = "100"
    @Option(help: "uniform, zipfian[:THETA] (default theta 0.99) or latest (the newest keys are the hottest; for workload d).") var distribution: String = "uniform"
    @Flag(help: "Write every key once before the measured run (not counted).") var preload = false
    @Option(help: "Seed for key choices (runs with the same seed send the same keys).") var seed: UInt64?
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(help: "Draw throughput and p50/p99 latency over time as an SVG picture, with configuration changes marked (cluster targets).")
    var plot: String?
    @Flag(help: "Correctness mode: record every operation (each SET writes a value of its own) and check the history for linearizability and each client's program order at the end (keys start from the values they hold before the run, so --preload and earlier runs are fine); prints the first anomaly, exits 1 on a violation. Use a small --keys so that keys see many concurrent operations.")
    var check = false

    func validate() throws {
        guard (master != nil || ProcessInfo.processInfo.environment["CHAIN_MASTER"] != nil) != (resp != nil) || resp != nil else {
            throw ValidationError("give --master HOST:PORT (or $CHAIN_MASTER) or --resp HOST:PORT")
        }
        if master != nil && resp != nil { throw ValidationError("--master and --resp exclude each other") }
        for (n, v) in [("--clients", clients), ("--pipeline", pipeline), ("--keys", keys), ("--threads", threads), ("--timeout-ms", timeoutMs)] where v < 1 { throw ValidationError("\(n) must be at least 1") }
        guard duration > 0, warmup >= 0 else { throw ValidationError("--duration and --warmup must not be negative") }
        _ = try valueSizes()
        if resp == nil && waitReplicas > 0 {
            throw ValidationError("--wait-replicas applies to --resp targets only (a chain acknowledges a write once every replica has it)")
        }
        if resp != nil && untaggedWrites {
            throw ValidationError("--untagged-writes applies to cluster targets (--master) only: RESP targets get plain commands anyway")
        }
        if let rate {
            guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be a positive number of operations per second") }
            guard pipeline == 1 else { throw ValidationError("--rate sends one operation at a time per client; leave --pipeline at 1") }
        }
        if let r = resp, HostPort(r) == nil { throw ValidationError("--resp: invalid address '\(r)'") }
        if let r = respRead, HostPort(r) == nil { throw ValidationError("--resp-read: invalid address '\(r)'") }
        if let m = master, MasterEndpoints(m) == nil { throw ValidationError("--master: invalid address '\(m)'") }
        for (flag, path) in [("--token-file", tokenFile), ("--password-file", passwordFile)] {
            if let path, SecretFile.read(path) == nil { throw ValidationError("\(flag) \(path) is not readable or is empty") }
        }
        if user != nil && passwordFile == nil { throw ValidationError("--user needs --password-file") }
        _ = try parsedWorkload()
        _ = try parsedDistribution()
    }

    func parsedWorkload() throws -> Workload {
        do { return try mix.map(Workload.parseMix) ?? Workload.named(workload) } catch { throw ValidationError("\(error)") }
    }

    /// `--value-bytes N` or `MIN-MAX`.
    func valueSizes() throws -> (min: Int, max: Int?) {
        let parts = valueBytesText.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        let limit = 512 << 20
        switch parts.count {
        case 1: if let n = parts[0], (0...limit).contains(n) { return (n, nil) }
        case 2: if let a = parts[0], let b = parts[1], 0 <= a, a <= b, b <= limit { return (a, b) }
        default: break
        }
        throw ValidationError("--value-bytes must be a size (0-\(limit)) or a range MIN-MAX, not '\(valueBytesText)'")
    }

    func parsedDistribution() throws -> KeyChooser.Distribution {
        if distribution == "uniform" { return .uniform }
        if distribution == "latest" { return .latest }
        if distribution.hasPrefix("zipfian") {
            let parts = distribution.split(separator: ":")
            let theta = parts.count > 1 ? Double(parts[1]) : 0.99
            guard let theta, theta > 0, theta < 1 else { throw ValidationError("zipfian theta must be between 0 and 1") }
            return .zipfian(theta: theta)
        }
        throw ValidationError("--distribution must be uniform, zipfian[:THETA] or latest")
    }

    func run() throws {
        let wl = try parsedWorkload()
        var o = LoadRunner.Options()
        let sizes = try valueSizes()
        o.clients = clients; o.pipeline = pipeline; o.keys = keys; o.valueBytes = sizes.min; o.valueBytesMax = sizes.max
        o.distribution = try parsedDistribution(); o.duration = duration; o.warmup = warmup; o.maxOps = ops; o.seed = seed
        o.check = check
        o.rate = rate
        o.threads = threads
        o.requestTimeoutMs = timeoutMs
        let masterAddr = master ?? ProcessInfo.processInfo.environment["CHAIN_MASTER"]
        let runStart = Date()
        // Cluster targets: the feed follows the configuration and notes every new epoch, to mark
        // it in the timeline.
        let credentials = passwordFile.flatMap(SecretFile.read).map { Credentials(user: user, password: $0) }
        var security = LoadSecurity(credentials: credentials)
        security.tls = try tlsFlags.context()
        let feed = try resp == nil ? ConfigFeed(master: masterAddr!, token: tokenFile.flatMap(SecretFile.read), tls: security.tls, start: runStart) : nil
        let target = try feed.map { LoadTargetSpec.cluster($0, security: security, tagWrites: !untaggedWrites) }
            ?? LoadTargetSpec.checkedRESP(write: resp!, read: respRead, waitReplicas: waitReplicas, security: security)
        let targetName = resp.map { "resp \($0)" + (respRead.map { " (reads \($0))" } ?? "") + (waitReplicas > 0 ? " WAIT \(waitReplicas)" : "") }
            ?? "chainstore \(masterAddr!)" + (untaggedWrites ? " (untagged writes)" : "")
        if preload {
            var p = o
            p.duration = 3600; p.warmup = 0; p.maxOps = nil; p.pipeline = 32; p.sequentialKeys = true; p.rate = nil; p.check = false
            FileHandle.standardError.write(Data("preloading \(keys) keys…\n".utf8))
            _ = try LoadRunner(options: p, workload: Workload(mix: [.set: 100], name: "preload")).run(target: target) { _, _, _ in }
        }
        let runner = LoadRunner(options: o, workload: wl)
        // The checker starts each key from what it holds now (a --preload or an earlier run).
        if check { try runner.recordInitialValues(target: target) }
        // Ctrl-C: stop after the operations in flight and report what was measured; a second
        // Ctrl-C exits at once.
        signal(SIGINT, SIG_IGN)
        let interrupts = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let seen = Mutex(false)
        interrupts.setEventHandler {
            if seen.withLock({ let was = $0; $0 = true; return was }) { Foundation.exit(130) }
            FileHandle.standardError.write(Data("\ninterrupted: finishing the operations in flight…\n".utf8))
            runner.stop()
        }
        interrupts.resume()
        let tty = isatty(2) != 0
        // Cluster targets: note every new configuration epoch, to mark it in the timeline.
        let finish = try runner.run(target: target) { elapsed, rate, errs in
            let line = String(format: "%5.0fs  %8.0f ops/s  errors %llu", elapsed, rate, errs)
            FileHandle.standardError.write(Data((tty ? "\r" + line : line + "\n").utf8))
        }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
        var report = finish(Report.Parameters(
            target: targetName, workload: wl.name, clients: clients, pipeline: pipeline, keys: keys, value_bytes: sizes.min,
            distribution: distribution, duration_s: duration, warmup_s: warmup, wait_replicas: waitReplicas, rate: rate, value_bytes_max: sizes.max))
        if untaggedWrites { report.parameters.untagged_writes = true }
        report.events = feed?.stop()
        if check {
            FileHandle.standardError.write(Data("checking the history for linearizability…\n".utf8))
            report.check = runner.checkHistory()
        }
        print(report.table)
        if let plot {
            let svg = Plot.svg(title: "\(targetName) · workload \(wl.name) · \(clients) clients", timeline: report.timeline ?? [], events: report.events ?? [])
            try Data(svg.utf8).write(to: URL(fileURLWithPath: plot))
            FileHandle.standardError.write(Data("plot written to \(plot)\n".utf8))
        }
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try e.encode(report).write(to: URL(fileURLWithPath: json))
        }
        if report.check?.verdict == "violation" { throw ExitCode(1) }
    }
}

