package dev.livetap.engine.qmp;

import static dev.livetap.engine.qmp.QmpArg.required;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.livetap.nativeio.OwnedFd;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The commands the QMP server answers itself: {@code qmp_capabilities}, {@code query-version},
 * {@code query-commands}, {@code getfd}, {@code closefd}, {@code query-name}, {@code query-qmp-schema},
 * and {@code quit} (which calls back).
 */
public final class QmpBuiltins {
    private static final Logger LOG = LoggerFactory.getLogger(QmpBuiltins.class);

    private QmpBuiltins() {
    }

    /** Registers everything but {@code quit}. */
    public static QmpCommandRegistry register(QmpCommandRegistry registry, QmpVersion version) {
        registry.register(QmpCommand.builder("qmp_capabilities")
                .arg(QmpArg.arrayOfEnum("enable", false, "oob"))
                .allowedBeforeNegotiation()
                .handler(QmpBuiltins::qmpCapabilities));
        registry.register(QmpCommand.builder("query-version")
                .handler((args, fds, s) -> done(version.toJson())));
        registry.register(QmpCommand.builder("query-commands")
                .handler((args, fds, s) -> {
                    ArrayNode list = JsonNodeFactory.instance.arrayNode();
                    for (String n : registry.names()) {
                        list.addObject().put("name", n);
                    }
                    return done(list);
                }));
        registry.register(QmpCommand.builder("getfd")
                .arg(required("fdname", QmpType.STR))
                .acceptsFds()
                .handler(QmpBuiltins::getfd));
        registry.register(QmpCommand.builder("closefd")
                .arg(required("fdname", QmpType.STR))
                .handler((args, fds, s) -> {
                    String fdname = args.get("fdname").textValue();
                    if (!s.closeFd(fdname)) {
                        throw QmpException.generic("File descriptor named '" + fdname + "' not found");
                    }
                    return done(null);
                }));
        return registry;
    }

    /**
     * Registers {@code query-name} ({@code {"name": vmName}}, or {@code {}} when there is none, as
     * QEMU with and without {@code -name}) and {@code query-qmp-schema} (built from the registry
     * when asked, so register it after every other command).
     */
    public static QmpCommandRegistry registerIntrospection(QmpCommandRegistry registry, java.util.Optional<String> vmName,
            List<QmpSchema.Event> events) {
        registry.register(QmpCommand.builder("query-name").handler((args, fds, s) -> {
            com.fasterxml.jackson.databind.node.ObjectNode r = QmpJson.object();
            vmName.ifPresent(n -> r.put("name", n));
            return done(r);
        }));
        registry.register(QmpCommand.builder("query-qmp-schema")
                .handler((args, fds, s) -> done(QmpSchema.introspect(registry, events))));
        return registry;
    }

    /**
     * Registers {@code quit}: the reply {@code {}} is sent first, then {@code onQuit} runs on the
     * session's thread (QEMU also answers before it exits).
     */
    public static QmpCommandRegistry registerQuit(QmpCommandRegistry registry, Runnable onQuit) {
        return registry.register(QmpCommand.builder("quit").handler((args, fds, s) -> {
            s.runAfterReply(onQuit);
            return done(null);
        }));
    }

    private static CompletionStage<JsonNode> qmpCapabilities(com.fasterxml.jackson.databind.node.ObjectNode args,
            List<OwnedFd> fds, QmpSession session) {
        if (session.negotiated()) {
            throw new QmpException(QmpErrorClass.CommandNotFound,
                    "Capabilities negotiation is already complete, command ignored");
        }
        // the schema admits only "oob", which the greeting offers (QEMU accepts it repeated, too)
        JsonNode enable = args.get("enable");
        session.enterCommandMode(enable != null && enable.size() > 0);
        return done(null);
    }

    private static CompletionStage<JsonNode> getfd(com.fasterxml.jackson.databind.node.ObjectNode args,
            List<OwnedFd> fds, QmpSession session) {
        String fdname = args.get("fdname").textValue();
        if (fds.isEmpty()) {
            throw QmpException.generic("No file descriptor supplied via SCM_RIGHTS");
        }
        if (!fdname.isEmpty() && Character.isDigit(fdname.charAt(0))) {
            OwnedFd.closeAll(fds);
            throw QmpException.invalidValue("fdname", "a name not starting with a digit");
        }
        if (fds.size() > 1) {
            // QEMU keeps the first fd of the message and closes the others
            LOG.warn("{}: getfd {} got {} fds; keeping the first, closing the rest", session.name(), fdname, fds.size());
            OwnedFd.closeAll(fds.subList(1, fds.size()));
        }
        session.putFd(fdname, fds.get(0));
        return done(null);
    }

    static CompletionStage<JsonNode> done(JsonNode value) {
        return CompletableFuture.completedFuture(value);
    }
}
