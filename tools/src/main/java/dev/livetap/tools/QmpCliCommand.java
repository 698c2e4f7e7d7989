package dev.livetap.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.engine.qmp.QmpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code livetap qmp PATH JSON}: sends one QMP command and prints the reply. */
@Command(name = "qmp", mixinStandardHelpOptions = true,
        description = {"Sends one QMP command to a livetap (or QEMU) QMP socket and prints the reply.",
            "JSON is a command name (query-status) or an object: '{\"execute\": \"migrate-set-parameters\", "
                + "\"arguments\": {\"local\": true}}'. Exit 0 on a return, 1 on an error reply."})
public final class QmpCliCommand implements Callable<Integer> {
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Parameters(index = "0", paramLabel = "PATH", description = "The QMP socket.")
    Path path;

    @Parameters(index = "1", paramLabel = "JSON", description = "A command name or a QMP request object.")
    String request;

    @Option(names = "--json", description = "Print the raw reply line (and events received meanwhile) instead of the return value.")
    boolean json;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "10", description = "Limit for connecting and the reply: 1-3600, default ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        BadOptionValue.range("--timeout", timeoutSeconds, 1, 3600);
        if (!java.nio.file.Files.exists(path)) {
            throw new BadOptionValue("PATH " + path + ": no such file (a QMP socket)");
        }
        String command;
        ObjectNode args = null;
        String text = request.strip();
        if (text.startsWith("{")) {
            JsonNode node;
            try {
                node = PRETTY.readTree(text);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new BadOptionValue("JSON is not valid: " + e.getOriginalMessage());
            }
            if (!node.path("execute").isTextual()) {
                throw new BadOptionValue("JSON: the request object needs \"execute\": \"<command>\"");
            }
            command = node.get("execute").textValue();
            if (node.has("arguments")) {
                if (!node.get("arguments").isObject()) {
                    throw new BadOptionValue("JSON: \"arguments\" must be an object");
                }
                args = (ObjectNode) node.get("arguments");
            }
        } else {
            command = text;
        }
        try (QmpClient client = QmpClient.connect(path, Duration.ofSeconds(timeoutSeconds))) {
            client.negotiate();
            ObjectNode reply = client.request(command, args, List.of());
            if (json) {
                for (JsonNode e : client.drainEvents()) {
                    System.out.println(e);
                }
                System.out.println(reply);
            } else if (reply.has("error")) {
                System.out.println("error: " + reply.get("error").path("class").asText() + ": "
                        + reply.get("error").path("desc").asText());
            } else {
                System.out.println(PRETTY.writeValueAsString(reply.get("return")));
            }
            return reply.has("error") ? ExitCodes.FAILED : ExitCodes.OK;
        } catch (java.io.IOException e) {
            System.err.println("livetap qmp: cannot connect to " + path + ": " + e.getMessage());
            return ExitCodes.FAILED;
        } catch (java.util.concurrent.TimeoutException e) {
            System.err.println("livetap qmp: " + e.getMessage());
            return ExitCodes.FAILED;
        }
    }
}
