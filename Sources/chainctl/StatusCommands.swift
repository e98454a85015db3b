import ArgumentParser
import ChainCore
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cluster health at a glance: problems first, then nodes, chains and the steps still to come.")
    @OptionGroup var m: MasterOption
    @Flag(help: "Print the status as JSON (a stable contract for scripts).")
    var json = false

    func run() throws {
        let s = try m.status()
        if json { try printJSON(s) } else { print(Self.text(s), terminator: "") }
    }

    static func text(_ s: MasterAPI.Status) -> String {
        let up = s.nodes.filter { ["up", "spare", "draining"].contains($0.state) }.count
        let ok = s.chains.filter { $0.state == "ok" }.count
        // A chain that is not ok but leaves the cluster healthy (reordering during a rebalance)
        // is named with its state, so "HEALTHY … 11/12 ok" does not read as a contradiction.
        let others = Dictionary(grouping: s.chains.filter { $0.state != "ok" }, by: \.state)
            .sorted { $0.key < $1.key }.map { "\($0.value.count) \($0.key)" }
        let chains = "chains \(ok)/\(s.chains.count) ok" + (others.isEmpty ? "" : " (\(others.joined(separator: ", ")))")
        var out = "epoch \(s.epoch)  \(s.healthy ? "HEALTHY" : "NOT HEALTHY")  replication \(s.replication)  nodes \(up)/\(s.nodes.count) up  \(chains)\n"
        if !s.problems.isEmpty {
            out += "\nPROBLEMS\n" + s.problems.map { "  - \($0)\n" }.joined()
        }
        if let m = s.masters, m.store != "file" || m.members.count > 1 { out += "\n" + Self.mastersText(m) }
        out += "\n" + Nodes.text(s) + "\n" + Chains.text(s, node: nil)
        if let plan = s.plan, !plan.isEmpty {
            out += "\nPLAN (\(plan.count) steps to go)\n"
            out += plan.prefix(12).enumerated().map { "  \($0 + 1). \($1)\n" }.joined()
            if plan.count > 12 { out += "  … and \(plan.count - 12) more\n" }
        }
        return out
    }
}

extension Status {
    /// The masters (leader first) and, with etcd, each etcd endpoint's health.
    static func mastersText(_ m: MasterAPI.Masters) -> String {
        var rows = [["MASTER", "ROLE"]]
        for member in m.members { rows.append([member.address, member.role]) }
        var out = "MASTERS (state in \(m.store)\(m.leader.map { ", leader \($0)" } ?? ", no leader"))\n" + tableText(rows)
        if let endpoints = m.store_endpoints, !endpoints.isEmpty {
            var erows = [["ETCD", "HEALTH", "DETAIL"]]
            for e in endpoints { erows.append([e.endpoint, e.healthy ? "ok" : "DOWN", e.detail]) }
            out += "\n" + tableText(erows)
        }
        return out
    }
}

struct Nodes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Nodes with their state, addresses and roles.")
    @OptionGroup var m: MasterOption
    @Flag(help: "Print as JSON.") var json = false

    func run() throws {
        let s = try m.status()
        if json { try printJSON(s.nodes.map { NodeRow(s, $0) }) } else { print(Self.text(s), terminator: "") }
    }

    static func text(_ s: MasterAPI.Status) -> String {
        var rows = [["NODE", "STATE", "CLIENT", "PEER", "HTTP", "LAST HEARTBEAT", "HEAD", "TAIL", "CHAINS"]]
        for n in s.nodes.map({ NodeRow(s, $0) }) {
            rows.append([n.id, n.state, n.client, n.peer, n.http, n.last_heartbeat_ms.map { "\($0) ms ago" } ?? "never",
                         "\(n.heads)", "\(n.tails)", "\(n.chains)"])
        }
        return tableText(rows)
    }

    /// A node with its role counts (the table's columns, and `--json`'s fields).
    struct NodeRow: Encodable {
        var id, state, client, peer, http: String
        var last_heartbeat_ms: Int?
        var heads, tails, chains: Int

        init(_ s: MasterAPI.Status, _ n: MasterAPI.Status.Node) {
            (id, state, client, peer, http, last_heartbeat_ms) = (n.id, n.state, n.client, n.peer, n.http, n.last_heartbeat_ms)
            heads = s.chains.filter { $0.members.first == n.id }.count
            tails = s.chains.filter { $0.members.last == n.id }.count
            chains = s.chains.filter { $0.members.contains(n.id) }.count
        }
    }
}

struct Chains: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The chain table, head → tail, with joins in progress.")
    @OptionGroup var m: MasterOption
    @Option(help: "Only chains this node belongs to or is joining.")
    var node: String?
    @Flag(help: "Print as JSON.") var json = false

    func run() throws {
        let s = try m.status()
        if let node, !s.nodes.contains(where: { $0.id == node }) { throw CtlError("no node '\(node)' is registered") }
        if json { try printJSON(s.chains.filter { node == nil || $0.members.contains(node!) || $0.joining == node }) }
        else { print(Self.text(s, node: node), terminator: "") }
    }

    static func text(_ s: MasterAPI.Status, node: String?) -> String {
        var rows = [["CHAIN", "SLOTS", "STATE", "MEMBERS (head → tail)", "JOINING"]]
        for c in s.chains where node == nil || c.members.contains(node!) || c.joining == node {
            var joining = ""
            if let j = c.joining {
                joining = j
                if let moved = c.transferred_bytes {
                    joining += " " + bytesText(moved) + (c.estimated_bytes.map { " of ~" + bytesText($0) } ?? "")
                }
            }
            rows.append(["\(c.id)", c.slots, c.state, c.members.joined(separator: " → "), joining])
        }
        return tableText(rows)
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Show the current configuration (epoch, nodes, chain table) as nodes and clients see it.")
    @OptionGroup var m: MasterOption
    @Flag(help: "Print as JSON (the configuration object the master publishes).") var json = false

    func run() throws {
        let c = try m.configuration()
        if json { try printJSON(c); return }
        print("epoch \(c.epoch)  replication \(c.replication)  chains \(c.chains.count)\n")
        printTable([["NODE", "CLIENT", "PEER", "HTTP"]] + c.nodes.map { [$0.id, $0.client, $0.peer, $0.http] })
        print("")
        printTable([["CHAIN", "SLOTS", "MEMBERS (head → tail)", "JOINING", "FROZEN"]] + c.chains.map { ch in
            let r = c.slots(of: ch.id)
            return ["\(ch.id)", "\(r.lowerBound)-\(r.upperBound - 1)", ch.members.joined(separator: " → "),
                    ch.joining ?? "", ch.frozen.map { "since epoch \($0)" } ?? ""]
        })
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live view of the cluster status; redraws in place on a terminal, one line per change otherwise.",
        discussion: "Stops on Ctrl-C, or after --count refreshes.")
    @OptionGroup var m: MasterOption
    @Option(help: "Seconds between refreshes.") var interval: Double = 1
    @Option(help: "Stop after this many refreshes (default: run until interrupted).") var count: Int?
    @Flag(help: "Print each refresh as one JSON line.") var json = false

    func validate() throws {
        guard interval >= 0.05 else { throw ValidationError("--interval must be at least 0.05 seconds") }
        if let count, count < 1 { throw ValidationError("--count must be positive") }
    }

    func run() throws {
        let terminal = isatty(STDOUT_FILENO) == 1 && !json
        var lastLine = ""
        var n = 0
        var lastFailed = false
        while count.map({ n < $0 }) ?? true {
            n += 1
            let stamp = ISO8601DateFormatter().string(from: Date())
            lastFailed = false
            do {
                let s = try m.status()
                if json {
                    let e = JSONEncoder()
                    e.outputFormatting = [.sortedKeys]
                    print(String(decoding: try e.encode(s), as: UTF8.self))
                } else if terminal {
                    print("\u{1B}[H\u{1B}[2J\(stamp)  (every \(interval)s, Ctrl-C to stop)\n\n" + Status.text(s), terminator: "")
                } else {
                    let line = Self.summary(s)
                    if line != lastLine { print("\(stamp) \(line)"); lastLine = line }
                }
            } catch {
                lastFailed = true
                if terminal { print("\u{1B}[H\u{1B}[2J\(stamp)  \(error)") } else { print("\(stamp) \(error)") }
            }
            fflush(nil)
            if count.map({ n < $0 }) ?? true { usleep(UInt32(interval * 1_000_000)) }
        }
        // With --count, a script learns whether the last look succeeded.
        if lastFailed { throw ExitCode.failure }
    }

    /// One line: epoch, health, counts, the first problem and the next step.
    static func summary(_ s: MasterAPI.Status) -> String {
        let up = s.nodes.filter { ["up", "spare", "draining"].contains($0.state) }.count
        let ok = s.chains.filter { $0.state == "ok" }.count
        var line = "epoch \(s.epoch) \(s.healthy ? "HEALTHY" : "NOT-HEALTHY") nodes \(up)/\(s.nodes.count) up, chains \(ok)/\(s.chains.count) ok"
        if let p = s.problems.first { line += "; \(p)" }
        if let plan = s.plan, let next = plan.first { line += "; \(plan.count) steps to go, next: \(next)" }
        return line
    }
}
