package dev.livetap.engine.vmm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.actors.RoutineLog;
import dev.livetap.engine.internal.WarmUp;
import dev.livetap.engine.qmp.QmpClient;
import dev.livetap.engine.qmp.QmpJson;
import java.nio.file.Path;
import org.slf4j.MDC;

/**
 * The VMM host's warm-up migrations, driven over QMP as a control plane drives the real ones: each
 * warm-up endpoint gets a {@link QmpFrontend} on its in-memory sockets, and a {@link QmpClient} sends
 * the local-migration driver's commands and waits for its events. So the QMP server, its JSON and
 * the event path are compiled before READY, not during the first real switch-over
 * (docs/benchmarks.md, "The warm-up over QMP").
 */
final class QmpWarmUp {
    private QmpWarmUp() {
    }

    static boolean migrate(WarmUp.Pair p) throws Exception {
        // the QMP servers' routine lines at DEBUG, as the warm-up actors' (RoutineLog)
        MDC.put(RoutineLog.WARM_UP_MDC_KEY, "true");
        try {
            return migrateOverQmp(p);
        } finally {
            MDC.remove(RoutineLog.WARM_UP_MDC_KEY);
        }
    }

    private static boolean migrateOverQmp(WarmUp.Pair p) throws Exception {
        Path srcPath = Path.of("/livetap-warm-up/" + p.tag() + "-src.qmp");
        Path tgtPath = Path.of("/livetap-warm-up/" + p.tag() + "-tgt.qmp");
        try (QmpFrontend srcFront = QmpFrontend.start(p.source(), p.sourceOs(), srcPath, () -> { }, p.step());
                QmpFrontend tgtFront = QmpFrontend.start(p.target(), p.targetOs(), tgtPath, () -> { }, p.step());
                QmpClient src = QmpClient.connect(p.sourceOs(), srcPath, p.step());
                QmpClient tgt = QmpClient.connect(p.targetOs(), tgtPath, p.step())) {
            src.negotiate();
            tgt.negotiate();
            for (QmpClient side : new QmpClient[] {tgt, src}) {
                side.execute("query-migrate-parameters", null);
                side.execute("migrate-set-parameters", QmpJson.object().put("local", true));
                side.execute("migrate-set-capabilities", eventsOn());
            }
            tgt.execute("migrate-incoming", QmpJson.object().put("uri", p.uri()));
            p.awaitTargetListening();
            src.execute("migrate", QmpJson.object().put("uri", p.uri()));
            String status = "";
            while (!status.equals("completed") && !status.equals("failed")) {
                status = src.awaitEvent("MIGRATION").path("data").path("status").asText();
            }
            if (status.equals("failed")) {
                throw new IllegalStateException("warm-up migration failed: "
                        + src.execute("query-migrate", null).path("error-desc").asText("?"));
            }
            tgt.awaitEvent("RESUME");
            JsonNode srcInfo = src.execute("query-migrate", null);
            JsonNode tgtInfo = tgt.execute("query-migrate", null);
            src.execute("query-status", null);
            tgt.execute("query-status", null);
            src.drainEvents();
            tgt.drainEvents();
            return srcInfo.path("status").asText().equals("completed") && tgtInfo.path("status").asText().equals("completed");
        }
    }

    private static ObjectNode eventsOn() {
        ObjectNode caps = QmpJson.object();
        caps.putArray("capabilities").addObject().put("capability", "events").put("state", true);
        return caps;
    }
}
