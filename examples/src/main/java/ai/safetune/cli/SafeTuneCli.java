package ai.safetune.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code safetune} command-line tool. Subcommands are registered in {@link #commandLine()}.
 * Exit codes: 0 success, 1 bad input or failure (one-line message on stderr), 2 bad usage.
 */
@Command(name = "safetune", mixinStandardHelpOptions = true, version = "safetune 0.1.0-SNAPSHOT",
        description = "Safe task-specific fine-tuning: attack, mimic, mix, audit, train, evaluate.")
public final class SafeTuneCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** The configured command line; tests call this to run commands in-process. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new SafeTuneCli());
        // one line per subcommand
        cl.addSubcommand(new LogitsCommand());
        cl.addSubcommand(new GenerateCommand());
        cl.addSubcommand(new TrainCommand());
        cl.addSubcommand(new MergeCommand());
        cl.addSubcommand(new TokenizeCommand());
        cl.addSubcommand(new AttackCommand());
        cl.addSubcommand(new MimicCommand());
        cl.addSubcommand(new MixCommand());
        cl.addSubcommand(new AuditCommand());
        cl.addSubcommand(new InspectCommand());
        cl.addSubcommand(new DemoCommand());
        cl.addSubcommand(new EvalCommand());
        cl.addSubcommand(new ReportCommand());
        cl.setExecutionExceptionHandler(SafeTuneCli::oneLineError);
        return cl;
    }

    static int oneLineError(Exception ex, CommandLine cl, CommandLine.ParseResult parseResult) {
        String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
        cl.getErr().println("safetune " + cl.getCommandName() + ": error: " + msg.replace('\n', ' '));
        if (System.getenv("SAFETUNE_DEBUG") != null) {
            ex.printStackTrace(cl.getErr());
        }
        return 1;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
