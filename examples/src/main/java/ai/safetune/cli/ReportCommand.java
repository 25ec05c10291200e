package ai.safetune.cli;

import ai.safetune.eval.EvalReport;
import ai.safetune.eval.report.HtmlReport;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code safetune report}: several eval JSONs (one per training condition, mix fraction...) → one HTML page. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Combine eval reports (JSON from 'safetune eval') into one self-contained HTML report.")
public final class ReportCommand implements Callable<Integer> {

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "REPORT.json", description = "eval reports, in the order to show them")
    List<Path> inputs;

    @Option(names = {"--html", "--out"}, required = true, description = "the HTML file to write")
    Path html;

    @Override
    public Integer call() throws Exception {
        List<EvalReport> reports = new ArrayList<>();
        for (Path p : inputs) {
            reports.add(EvalReport.read(p));
        }
        HtmlReport.write(reports, html);
        spec.commandLine().getOut().println("wrote " + html + " (" + reports.size() + " runs)");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
