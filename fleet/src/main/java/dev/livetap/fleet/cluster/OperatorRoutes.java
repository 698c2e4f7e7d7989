package dev.livetap.fleet.cluster;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.livetap.fleet.coordinator.Plan;
import dev.livetap.fleet.coordinator.PlanJson;
import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import dev.livetap.fleet.coordinator.VersionStep;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.function.Supplier;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.AttributeKeys;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.SslSessionInfo;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * The operator interface over HTTPS, beside Pekko Management's routes on the same TLS endpoint: every request
 * is authenticated by its client certificate (TLS with mutual authentication, the fleet's CA) and authorized by
 * the certificate's {@link FleetRole}; every command is written to the audit log ({@link OperatorAudit}).
 * <ul>
 *   <li>{@code GET /fleet/status}: the coordinator's status as JSON (read);</li>
 *   <li>{@code POST /fleet/pause}, {@code /fleet/resume}, {@code /fleet/abort}: {@code {"state": ...}} (operate);</li>
 *   <li>{@code POST /fleet/plans} with a plan's JSON ({@link PlanJson}): {@code 201 {"accepted": true, "plan": N,
 *       "epoch": E}} (operate); a body that is no plan {@code 400}.</li>
 * </ul>
 * A role without the right gets {@code 403} and a one-line reason; a refused control {@code 409}; a coordinator
 * that does not answer {@code 503}.
 */
final class OperatorRoutes {
    /** How long a request waits for the coordinator before {@code 503}. */
    static final Duration ASK_TIMEOUT = Duration.ofSeconds(15);
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ActorSystem<Void> system;
    private final Supplier<Optional<ActorRef<UpgradeCoordinator.Command>>> coordinator;
    private final Duration timeout;

    /** {@code coordinator}: the singleton proxy once the node has joined (empty before: {@code 503}). */
    OperatorRoutes(ActorSystem<Void> system, Supplier<Optional<ActorRef<UpgradeCoordinator.Command>>> coordinator,
            Duration timeout) {
        this.system = system;
        this.coordinator = coordinator;
        this.timeout = timeout;
    }

    /** The fleet routes; {@code others} (Management's) are served to any certificate of the fleet (health reads). */
    Route routes(Route others) {
        return Directives.attribute(AttributeKeys.sslSession, ssl -> Directives.concat(
                Directives.pathPrefix("fleet", () -> Directives.concat(
                        Directives.path("status", () -> Directives.get(() -> command(ssl, FleetRole.Command.STATUS))),
                        Directives.path("pause", () -> Directives.post(() -> command(ssl, FleetRole.Command.PAUSE))),
                        Directives.path("resume", () -> Directives.post(() -> command(ssl, FleetRole.Command.RESUME))),
                        Directives.path("abort", () -> Directives.post(() -> command(ssl, FleetRole.Command.ABORT))),
                        Directives.path("plans", () -> Directives.post(() -> Directives.entity(Unmarshaller.entityToString(),
                                body -> start(ssl, body)))))),
                Directives.get(() -> health(ssl, others))));
    }

    private Route health(SslSessionInfo ssl, Route others) {
        Caller caller = caller(ssl);
        if (caller.role() == null) {
            return text(403, caller.why());
        }
        return others;
    }

    /** The audited {@code 403} for a caller without a role or without the right to {@code command}; empty when allowed. */
    private static Optional<Route> refused(Caller caller, FleetRole.Command command) {
        if (caller.role() == null) {
            OperatorAudit.refused(caller.who(), command, caller.why());
            return Optional.of(text(403, caller.why()));
        }
        Optional<String> refusal = caller.role().refusal(command, caller.who());
        if (refusal.isPresent()) {
            OperatorAudit.refused(caller.who() + " (" + caller.role().label() + ")", command, refusal.get());
            return Optional.of(text(403, refusal.get()));
        }
        return Optional.empty();
    }

    private Route command(SslSessionInfo ssl, FleetRole.Command command) {
        Caller caller = caller(ssl);
        Optional<Route> refused = refused(caller, command);
        if (refused.isPresent()) {
            return refused.get();
        }
        Optional<ActorRef<UpgradeCoordinator.Command>> proxy = coordinator.get();
        if (proxy.isEmpty()) {
            return text(503, "this node has not joined the fleet yet");
        }
        String who = caller.who() + " (" + caller.role().label() + ")";
        CompletionStage<HttpResponse> answer = AskPattern.<UpgradeCoordinator.Command, UpgradeCoordinator.Reply>ask(proxy.get(),
                        message(command)::apply, timeout, system.scheduler())
                .handle((reply, failure) -> {
                    if (failure != null) {
                        OperatorAudit.failed(who, command, "the coordinator did not answer: " + failure.getMessage());
                        return response(503, "text/plain", "the coordinator did not answer within " + timeout.toMillis() + " ms\n");
                    }
                    return answer(who, command, reply);
                });
        return Directives.completeWithFuture(answer);
    }

    /**
     * {@code POST /fleet/plans}: {@code body} is a plan as {@link PlanJson} writes it (what {@code fleet start} builds);
     * {@code 201} with the plan's id, {@code 400} for a body that is no plan (or a target too far from this build),
     * {@code 409} when a plan runs.
     */
    private Route start(SslSessionInfo ssl, String body) {
        Caller caller = caller(ssl);
        FleetRole.Command command = FleetRole.Command.START;
        Optional<Route> refused = refused(caller, command);
        if (refused.isPresent()) {
            return refused.get();
        }
        String who = caller.who() + " (" + caller.role().label() + ")";
        Plan plan;
        try {
            plan = PlanJson.parse(body);
        } catch (IllegalArgumentException e) {
            OperatorAudit.failed(who, command, "bad plan: " + e.getMessage());
            return text(400, "not a plan: " + e.getMessage());
        }
        Optional<String> tooFar = VersionStep.refusal(plan.targetVersion(), VersionStep.thisBuild());
        if (tooFar.isPresent()) {
            OperatorAudit.failed(who, command, "bad plan: " + tooFar.get());
            return text(400, "not a plan for this fleet: " + tooFar.get());
        }
        Optional<ActorRef<UpgradeCoordinator.Command>> proxy = coordinator.get();
        if (proxy.isEmpty()) {
            return text(503, "this node has not joined the fleet yet");
        }
        CompletionStage<HttpResponse> answer = AskPattern.<UpgradeCoordinator.Command, UpgradeCoordinator.Reply>ask(proxy.get(),
                        r -> new UpgradeCoordinator.SubmitPlan(plan, r), timeout, system.scheduler())
                .handle((reply, failure) -> {
                    if (failure != null) {
                        OperatorAudit.failed(who, command, "the coordinator did not answer: " + failure.getMessage());
                        return response(503, "text/plain", "the coordinator did not answer within " + timeout.toMillis() + " ms\n");
                    }
                    if (reply instanceof UpgradeCoordinator.PlanAccepted a) {
                        OperatorAudit.done(who, command, "plan " + a.plan() + " of " + plan.hosts().size() + " host(s), target "
                                + plan.targetVersion() + ", coordinator epoch " + a.epoch());
                        ObjectNode out = JSON.createObjectNode().put("accepted", true).put("plan", a.plan()).put("epoch", a.epoch());
                        return response(201, "application/json", out + "\n");
                    }
                    return answer(who, command, reply);
                });
        return Directives.completeWithFuture(answer);
    }

    private static Function<ActorRef<UpgradeCoordinator.Reply>, UpgradeCoordinator.Command> message(FleetRole.Command command) {
        return switch (command) {
            case PAUSE -> r -> new UpgradeCoordinator.ControlPlan(UpgradeCoordinator.Action.PAUSE, r);
            case RESUME -> r -> new UpgradeCoordinator.ControlPlan(UpgradeCoordinator.Action.RESUME, r);
            case ABORT -> r -> new UpgradeCoordinator.ControlPlan(UpgradeCoordinator.Action.ABORT, r);
            default -> UpgradeCoordinator.GetStatus::new;
        };
    }

    private static HttpResponse answer(String who, FleetRole.Command command, UpgradeCoordinator.Reply reply) {
        try {
            if (reply instanceof UpgradeCoordinator.Rejected r) {
                OperatorAudit.failed(who, command, r.reason());
                return response(409, "text/plain", r.reason() + "\n");
            }
            if (reply instanceof UpgradeCoordinator.Controlled c) {
                OperatorAudit.done(who, command, c.state());
                ObjectNode body = JSON.createObjectNode().put("state", c.state());
                return response(200, "application/json", JSON.writeValueAsString(body) + "\n");
            }
            if (reply instanceof UpgradeCoordinator.Status s) {
                OperatorAudit.done(who, command, s.state());
                return response(200, "application/json", JSON.writeValueAsString(s) + "\n");
            }
            OperatorAudit.failed(who, command, "unexpected answer " + reply.getClass().getSimpleName());
            return response(500, "text/plain", "the coordinator answered " + reply.getClass().getSimpleName() + "\n");
        } catch (JsonProcessingException e) {
            return response(500, "text/plain", "could not write the answer: " + e.getOriginalMessage() + "\n");
        }
    }

    /** Who is calling: the client certificate's CN and role; a null role with {@code why} when it has none usable. */
    private record Caller(String who, FleetRole role, String why) {
    }

    private static Caller caller(SslSessionInfo ssl) {
        X509Certificate peer;
        try {
            peer = RotatingTlsContext.peer(ssl.getSession());
        } catch (SSLPeerUnverifiedException e) {
            return new Caller("an unauthenticated client", null, "a client certificate of the fleet's CA is required");
        }
        String subject = peer.getSubjectX500Principal().getName();
        try {
            return new Caller(FleetRole.commonName(subject), FleetRole.of(peer), null);
        } catch (IllegalArgumentException e) {
            return new Caller(subject, null, e.getMessage());
        }
    }

    private static Route text(int status, String line) {
        return Directives.complete(response(status, "text/plain", line + "\n"));
    }

    private static HttpResponse response(int status, String type, String body) {
        return HttpResponse.create().withStatus(StatusCodes.get(status)).withEntity(
                "application/json".equals(type) ? ContentTypes.APPLICATION_JSON : ContentTypes.TEXT_PLAIN_UTF8, body);
    }
}
