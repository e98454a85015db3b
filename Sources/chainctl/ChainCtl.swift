import ArgumentParser
import ChainClient
import ChainCore
import ChainVersion
import Foundation

@main
struct ChainCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainctl",
        abstract: "Administer a chainstore cluster.",
        discussion: """
            The master is --master HOST:PORT or $CHAIN_MASTER (default 127.0.0.1:7000). Every command takes --json. \
            Exit codes: 0 success, 1 failure (one line on stderr), 2 not done in time (wait, --wait), 64 bad usage.
            """,
        version: "chainctl \(BuildInfo.description)",
        subcommands: [Status.self, Nodes.self, Chains.self, Watch.self, ConfigCommand.self,
                      Add.self, Drain.self, Remove.self, Wait.self,
                      StopCluster.self, StartCluster.self,
                      Get.self, SetKey.self, Del.self, Scan.self, BackupCommand.self, RestoreCommand.self, Version.self])

    /// Options every subcommand takes (`MasterOption`).
    static let globalOptions = ["--master", "--token-file", "--user", "--password-file", "--tls-ca-file", "--tls-cert-file", "--tls-key-file"]

    /// `chainctl --master X status` and `chainctl status --master X` both work: global options
    /// before the subcommand are moved after it, where the subcommands declare them.
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        var moved: [String] = []
        while let first = args.first, let option = globalOptions.first(where: { first == $0 || first.hasPrefix($0 + "=") }) {
            if first == option, args.count >= 2 { moved += args.prefix(2); args.removeFirst(2) }
            else { moved.append(first); args.removeFirst() }
        }
        if !moved.isEmpty, !args.isEmpty { args.insert(contentsOf: moved, at: 1) } else { args = moved + args }
        Self.main(args)
    }
}

/// A one-line failure; ArgumentParser prints it as `Error: …` and exits 1.
struct CtlError: Error, CustomStringConvertible {
    enum Kind {
        /// No master answered (none listening yet, or none leading): the request was not taken.
        case masterUnreachable
        /// Anything else: a refusal, a bad flag, an answer not understood.
        case failed
    }

    var description: String
    var kind: Kind
    init(_ d: String, kind: Kind = .failed) {
        description = d
        self.kind = kind
    }
}

func printJSON<T: Encodable>(_ v: T) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try e.encode(v), as: UTF8.self))
}

func printTable(_ rows: [[String]]) {
    print(tableText(rows), terminator: "")
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
func tableText(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    var widths = first.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    var out = ""
    for r in rows {
        out += r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ") + "\n"
    }
    return out
}

/// Human-readable byte counts (1000-based, like `df -H`).
func bytesText(_ n: Int) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var v = Double(n)
    var u = 0
    while v >= 1000 && u < units.count - 1 { v /= 1000; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print chainctl's version.")
    /// Accepted (and unused) so that a global `--master` works with every command.
    @OptionGroup var m: MasterOption
    @Flag(help: "Print as JSON.") var json = false
    func run() throws {
        if json { try printJSON(["version": BuildInfo.version, "commit": BuildInfo.commit]) } else { print("chainctl \(BuildInfo.description)") }
    }
}
