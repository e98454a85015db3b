import Foundation
import PackagePlugin

/// Writes the build's git commit into the `ChainVersion` module before every build, so each
/// binary can name the exact source it was built from (`--version`, INFO, `/status`). A checkout
/// without git (a source tarball) says "unknown". The script rewrites the file only when the
/// commit changed, so an unchanged commit recompiles nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let out = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = context.package.directoryURL.appending(path: "Plugins/BuildInfoPlugin/write-build-info.sh")
        return [.prebuildCommand(
            displayName: "Recording the build's commit",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: [script.path(), context.package.directoryURL.path(), out.path()],
            outputFilesDirectory: out)]
    }
}
