import ArgumentParser
import ChainClient
import ChainCore
import Foundation
import RESP

@main
struct ChainCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainctl",
        abstract: "Administer a chainstore cluster.",
        discussion: "The master is --master HOST:PORT or $CHAIN_MASTER (default 127.0.0.1:7000). Exit codes: 0 success, 1 failure, 2 not healthy in time (wait), 64 bad usage.",
        subcommands: [Status.self, Nodes.self, Chains.self, Get.self, SetKey.self, Del.self, Wait.self, Drain.self, Remove.self, Version.self])

    /// `chainctl --master X status` and `chainctl status --master X` both work: a global
    /// `--master` before the subcommand is moved after it, where the subcommands declare it.
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        var moved: [String] = []
        while let first = args.first, first.hasPrefix("--master") {
            if first == "--master", args.count >= 2 { moved += args.prefix(2); args.removeFirst(2) }
            else { moved.append(first); args.removeFirst() }
        }
        if !moved.isEmpty, !args.isEmpty { args.insert(contentsOf: moved, at: 1) } else { args = moved + args }
        Self.main(args)
    }
}

struct MasterOption: ParsableArguments {
    @Option(name: .long, help: "Configuration master (HOST:PORT); default $CHAIN_MASTER or 127.0.0.1:7000.")
    var master: String?

    var address: HostPort {
        get throws {
            let text = master ?? ProcessInfo.processInfo.environment["CHAIN_MASTER"] ?? "127.0.0.1:7000"
            guard let a = HostPort(text) else { throw ValidationError("invalid master address '\(text)' (expected HOST:PORT)") }
            return a
        }
    }

    func status() throws -> MasterAPI.Status {
        let a = try address
        let r: HTTPClient.Response
        do { r = try HTTPClient.get(host: a.host, port: a.port, path: "/v1/status", timeoutMs: 3000) } catch {
            throw CtlError("cannot reach the master at \(a): \(error)")
        }
        guard r.status == 200 else { throw CtlError("master at \(a) answered \(r.status): \(r.text.trimmingCharacters(in: .whitespacesAndNewlines))") }
        do { return try JSONDecoder().decode(MasterAPI.Status.self, from: Data(r.body)) } catch {
            throw CtlError("master at \(a) sent a status this chainctl does not understand: \(error)")
        }
    }

    func client() throws -> ClusterClient {
        do { return try ClusterClient(master: try address) } catch { throw CtlError("\(error)") }
    }
}

/// A one-line failure; ArgumentParser prints it as `Error: …` and exits 1.
struct CtlError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func printJSON<T: Encodable>(_ v: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try e.encode(v), as: UTF8.self))
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cluster health at a glance: problems first, then nodes and chains.")
    @OptionGroup var m: MasterOption
    @Flag(help: "Print the status as JSON (a stable contract for scripts).")
    var json = false

    func run() throws {
        let s = try m.status()
        if json { try printJSON(s); return }
        let up = s.nodes.filter { $0.state == "up" }.count
        let ok = s.chains.filter { $0.state == "ok" }.count
        print("epoch \(s.epoch)  \(s.healthy ? "HEALTHY" : "NOT HEALTHY")  replication \(s.replication)  nodes \(up)/\(s.nodes.count) up  chains \(ok)/\(s.chains.count) ok")
        if !s.problems.isEmpty {
            print("\nPROBLEMS")
            for p in s.problems { print("  - \(p)") }
        }
        print("")
        Nodes.table(s)
        print("")
        Chains.table(s, node: nil)
    }
}

struct Nodes: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Nodes with their state and addresses.")
    @OptionGroup var m: MasterOption
    @Flag var json = false

    func run() throws {
        let s = try m.status()
        if json { try printJSON(s.nodes) } else { Self.table(s) }
    }

    static func table(_ s: MasterAPI.Status) {
        var rows = [["NODE", "STATE", "CLIENT", "PEER", "HTTP", "LAST HEARTBEAT", "HEAD", "TAIL", "CHAINS"]]
        for n in s.nodes {
            let heads = s.chains.filter { $0.members.first == n.id }.count
            let tails = s.chains.filter { $0.members.last == n.id }.count
            let member = s.chains.filter { $0.members.contains(n.id) }.count
            rows.append([n.id, n.state, n.client, n.peer, n.http, n.last_heartbeat_ms.map { "\($0) ms ago" } ?? "never",
                         "\(heads)", "\(tails)", "\(member)"])
        }
        printTable(rows)
    }
}

struct Chains: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The chain table, head → tail.")
    @OptionGroup var m: MasterOption
    @Option(help: "Only chains this node belongs to.")
    var node: String?
    @Flag var json = false

    func run() throws {
        let s = try m.status()
        if json { try printJSON(s.chains.filter { node == nil || $0.members.contains(node!) }) } else { Self.table(s, node: node) }
    }

    static func table(_ s: MasterAPI.Status, node: String?) {
        var rows = [["CHAIN", "SLOTS", "STATE", "MEMBERS (head → tail)"]]
        for c in s.chains where node == nil || c.members.contains(node!) {
            rows.append(["\(c.id)", c.slots, c.state, c.members.joined(separator: " → ")])
        }
        printTable(rows)
    }
}

func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = first.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    for r in rows {
        print(r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}

func show(_ v: RESPValue) throws {
    switch v {
    case let .error(e): throw CtlError(e)
    case .bulk(nil), .null: print("(nil)")
    case let .integer(i): print(i)
    default: print(v.string ?? "\(v)")
    }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read a key (from its chain's tail).")
    @OptionGroup var m: MasterOption
    @Argument var key: String
    func run() throws {
        let c = try m.client()
        do { try show(try c.execute("GET", key)) } catch let e as ClusterClient.Failure { throw CtlError("\(e)") }
    }
}

struct SetKey: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Write a key (at its chain's head; answered once committed).")
    @OptionGroup var m: MasterOption
    @Argument var key: String
    @Argument var value: String
    func run() throws {
        let c = try m.client()
        do { try show(try c.execute("SET", key, value)) } catch let e as ClusterClient.Failure { throw CtlError("\(e)") }
    }
}

struct Del: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a key.")
    @OptionGroup var m: MasterOption
    @Argument var key: String
    func run() throws {
        let c = try m.client()
        do { try show(try c.execute("DEL", key)) } catch let e as ClusterClient.Failure { throw CtlError("\(e)") }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Wait until the cluster is healthy; exit 0 if it is, 2 if the timeout passed first.")
    @OptionGroup var m: MasterOption
    @Flag(help: "Wait for every chain to have its full replication factor with every member up and in sync.")
    var healthy = false
    @Option(help: "Seconds to wait at most.")
    var timeout: Double = 30

    func validate() throws {
        guard healthy else { throw ValidationError("say what to wait for: --healthy") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
        let deadline = Date().addingTimeInterval(timeout)
        var last = "no answer from the master"
        repeat {
            if let s = try? m.status() {
                if s.healthy { print("healthy at epoch \(s.epoch)"); return }
                last = s.problems.first ?? "not healthy"
            }
            usleep(200_000)
        } while Date() < deadline
        FileHandle.standardError.write(Data("not healthy after \(timeout)s: \(last)\n".utf8))
        throw ExitCode(2)
    }
}

extension MasterOption {
    /// POSTs `{"id": …}` to a node-administration endpoint; a refusal becomes a one-line error.
    func postNode(_ path: String, _ id: String) throws {
        let a = try address
        let body = Array("{\"id\":\"\(id.replacingOccurrences(of: "\"", with: ""))\"}".utf8)
        let r: HTTPClient.Response
        do { r = try HTTPClient.request(method: "POST", host: a.host, port: a.port, path: path, body: body) } catch {
            throw CtlError("cannot reach the master at \(a): \(error)")
        }
        guard r.status == 200 else { throw CtlError(r.text.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Forget a node that is in no chain (failed and spliced out, drained, or a spare).")
    @OptionGroup var m: MasterOption
    @Argument var id: String

    func run() throws {
        try m.postNode("/v1/nodes/remove", id)
        print("removed \(id)")
    }
}

struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a node out of every chain without any chain dropping below its replication factor.",
        discussion: "Each chain of the node first gets a replacement that catches up and becomes its tail; then the node leaves it. With --wait, follow until the node is in no chain (exit 2 on timeout).")
    @OptionGroup var m: MasterOption
    @Argument var id: String
    @Flag(help: "Wait until the node is drained.") var wait = false
    @Option(help: "Seconds to wait at most with --wait.") var timeout: Double = 300

    func run() throws {
        try m.postNode("/v1/nodes/drain", id)
        print("draining \(id)")
        guard wait else { return }
        let deadline = Date().addingTimeInterval(timeout)
        var last = -1
        while Date() < deadline {
            if let s = try? m.status() {
                let left = s.chains.filter { $0.members.contains(id) }.count
                if left != last { print("  \(id) is still in \(left) chain(s)"); last = left }
                if left == 0 && s.healthy { print("drained \(id)"); return }
            }
            usleep(250_000)
        }
        FileHandle.standardError.write(Data("\(id) not drained after \(timeout)s\n".utf8))
        throw ExitCode(2)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print chainctl's version.")
    func run() { print("chainctl 0.1.0") }
}
