package dev.livetap.fleet.bench;

import dev.livetap.fleet.agent.AgentNode;
import dev.livetap.fleet.cluster.FleetTls;
import dev.livetap.fleet.budget.FreezeBudget;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One host of the fleet bench as its own process: a {@link RollingHostPort} (its VMM processes in
 * the host's network namespace) under a host agent that joins the bench's cluster. Prints
 * {@code READY HOST} once the agent serves, then {@code READY g<k>} per prepared generation; ends
 * when its stdin reaches end-of-file (the bench, its parent, ended or closed it) or on SIGTERM.
 *
 * <p>Arguments: {@code --host H --seed ADDR --dir DIR --netns NS --vms N --budget-initial K
 * --budget-max K [--downtime-limit-ms MS [--budget-window W]] --threads T --timeout S [--gate switchover|around]
 * [--look-ahead N|auto|none]}
 * ({@code switchover}, the default: the freeze permit is taken in the driver's switch-over gate; {@code around}: the
 * agent holds it around the whole step). Without a
 * downtime limit the budget is fixed at {@code --budget-initial}.
 */
public final class BenchHost {
    private BenchHost() {
    }

    public static void main(String[] args) {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            a.put(args[i], args[i + 1]);
        }
        try {
            String host = required(a, "--host");
            Duration timeout = Duration.ofSeconds(Long.parseLong(required(a, "--timeout")));
            int k = Integer.parseInt(required(a, "--budget-initial"));
            FreezeBudget.Settings budget = a.containsKey("--downtime-limit-ms")
                    ? FreezeBudget.Settings.adaptive(k, Integer.parseInt(required(a, "--budget-max")),
                            Double.parseDouble(a.get("--downtime-limit-ms")),
                            Integer.parseInt(a.getOrDefault("--budget-window", String.valueOf(FreezeBudget.DEFAULT_WINDOW))))
                    : FreezeBudget.Settings.fixed(k);
            budget = budget.withLookAhead(FreezeBudget.LookAhead.parse(a.getOrDefault("--look-ahead", "auto")));
            List<String> prefix = new ArrayList<>();
            if (a.containsKey("--netns")) {
                prefix.addAll(List.of("ip", "netns", "exec", a.get("--netns")));
            }
            Path dir = Path.of(required(a, "--dir"));
            boolean gated = switch (a.getOrDefault("--gate", "switchover")) {
                case "switchover" -> true;
                case "around" -> false;
                default -> throw new IllegalArgumentException("bench host: --gate must be switchover or around");
            };
            RollingHostPort port = RollingHostPort.start(dir, prefix, Integer.parseInt(required(a, "--vms")), timeout, gated,
                    BenchHost::say);
            AgentNode agent;
            try {
                agent = AgentNode.start(host, "127.0.0.1", 0, List.of(required(a, "--seed")), port, null,
                        dir.resolve(AgentNode.LEDGER), budget, timeout, Duration.ofSeconds(120),
                        Integer.parseInt(required(a, "--threads")),
                        a.containsKey("--tls-dir") ? FleetTls.fromDirectory(Path.of(a.get("--tls-dir"))) : FleetTls.OFF);
            } catch (Exception e) {
                port.close();
                throw e;
            }
            Thread stop = new Thread(() -> {
                try {
                    agent.close();
                } finally {
                    port.close();
                }
            }, "bench-host-stop");
            Runtime.getRuntime().addShutdownHook(stop);
            port.sample("ready"); // the first sample: the agent joined and serves
            say("READY " + host);
            while (System.in.read() >= 0) {
                // the parent holds the pipe's write end and never writes: end-of-file means it is gone
            }
            Runtime.getRuntime().removeShutdownHook(stop);
            stop.run();
            System.exit(0);
        } catch (Exception e) {
            System.err.println("bench host: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static String required(Map<String, String> a, String name) {
        String v = a.get(name);
        if (v == null) {
            throw new IllegalArgumentException("bench host: " + name + " is required");
        }
        return v;
    }
}
