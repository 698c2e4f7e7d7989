package dev.livetap.engine.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** {@code livetap selftest}: checks the host's prerequisites and does a real TAP hand-off. */
@Command(name = "selftest", mixinStandardHelpOptions = true,
        description = "Checks /dev/net/tun, root/CAP_NET_ADMIN, ip and ping, and hands a 4-queue TAP between two child processes in a private namespace.")
public final class SelftestCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.out.println("selftest: not implemented yet");
        return ExitCodes.UNAVAILABLE;
    }
}
