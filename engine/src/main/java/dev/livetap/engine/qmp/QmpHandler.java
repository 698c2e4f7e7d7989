package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.nativeio.OwnedFd;
import java.util.List;
import java.util.concurrent.CompletionStage;

/**
 * Executes one validated QMP command. May answer later (an actor's reply): the session sends
 * nothing else for that client meanwhile, so replies keep request order.
 */
@FunctionalInterface
public interface QmpHandler {
    /**
     * @param args the validated {@code arguments} object (empty when absent)
     * @param fds fds that came with the message over SCM_RIGHTS; empty unless the command was
     *     registered with {@link QmpCommand.Builder#acceptsFds()}; the handler owns them
     * @param session the client's session ({@link QmpSession#takeFd(String)} for fd names)
     * @return the {@code return} value (null means {@code {}}); complete exceptionally with a
     *     {@link QmpException} for an error reply
     */
    CompletionStage<JsonNode> handle(ObjectNode args, List<OwnedFd> fds, QmpSession session);
}
