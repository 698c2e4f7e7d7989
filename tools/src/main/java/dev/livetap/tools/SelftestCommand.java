package dev.livetap.tools;

import dev.livetap.testbed.selftest.HandoffChild;
import dev.livetap.testbed.selftest.HostChecks;
import dev.livetap.testbed.selftest.HostChecks.Check;
import dev.livetap.testbed.selftest.SelftestHandoff;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code livetap selftest}: checks the host's prerequisites and does a real TAP hand-off. */
@Command(name = "selftest", mixinStandardHelpOptions = true,
        description = "Checks /dev/net/tun, root/CAP_NET_ADMIN, ip and ping, and hands a 4-queue TAP between two child processes in a private namespace.")
public final class SelftestCommand implements Callable<Integer> {
    @Option(names = "--json", description = "Print one JSON object instead of the table.")
    boolean json;

    @Option(names = "--queues", defaultValue = "4", description = "Queues of the test TAP (1-256, default ${DEFAULT-VALUE}).")
    int queues;

    @Override
    public Integer call() {
        BadOptionValue.range("--queues", queues, 1, 256);
        List<Check> checks = new ArrayList<>(HostChecks.run());
        boolean prerequisites = checks.stream().allMatch(Check::ok);
        if (!json) {
            System.out.println("livetap selftest");
            checks.forEach(SelftestCommand::print);
        }
        if (prerequisites) {
            if (!json) {
                System.out.println("  ... handing a " + queues + "-queue TAP between two processes in a private namespace");
            }
            Check handoff = SelftestHandoff.run(queues, HandoffChild.class.getName());
            checks.add(handoff);
            if (!json) {
                print(handoff);
            }
        } else {
            checks.add(new Check(queues + "-queue TAP hand-off", false, "skipped: a prerequisite above is missing"));
            if (!json) {
                print(checks.get(checks.size() - 1));
            }
        }
        boolean ok = checks.stream().allMatch(Check::ok);
        if (json) {
            com.fasterxml.jackson.databind.node.ObjectNode o = Json.MAPPER.createObjectNode().put("ok", ok).put("real_tap", ok);
            com.fasterxml.jackson.databind.node.ArrayNode list = o.putArray("checks");
            for (Check c : checks) {
                list.addObject().put("name", c.name()).put("ok", c.ok()).put("detail", c.detail());
            }
            System.out.println(Json.write(o));
        } else {
            System.out.println(ok ? "selftest: all checks passed" : "selftest: FAILED (see above)");
        }
        if (!prerequisites) {
            return ExitCodes.UNAVAILABLE;
        }
        return ok ? ExitCodes.OK : ExitCodes.FAILED;
    }

    private static void print(Check c) {
        System.out.printf("  %-26s %-6s %s%n", c.name(), c.ok() ? "ok" : "FAIL", c.detail());
    }
}
