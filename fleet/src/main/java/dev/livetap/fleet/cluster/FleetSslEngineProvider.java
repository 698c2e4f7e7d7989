package dev.livetap.fleet.cluster;

import com.typesafe.config.Config;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.apache.pekko.actor.AbstractExtensionId;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.Extension;
import org.apache.pekko.remote.artery.tcp.SSLEngineProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Option;

/**
 * The cluster transport's TLS (Artery {@code tls-tcp}): TLS 1.3 with mutual authentication from
 * {@link RotatingTlsContext} (so rotated stores apply to new connections without a restart), and a membership
 * check on every handshake: a peer whose certificate carries the {@link FleetRole#READ} role is refused (a member
 * can send anything to anyone; a read-only operator uses the HTTPS interface instead). Pekko creates it by name
 * with the actor system; the stores come from {@code livetap.fleet.tls.*} ({@link FleetConfig#toConfig()}).
 */
public final class FleetSslEngineProvider implements SSLEngineProvider {
    private static final Logger LOG = LoggerFactory.getLogger(FleetSslEngineProvider.class);
    /** Where {@link FleetConfig} puts the stores for this provider. */
    static final String CONFIG = "livetap.fleet.tls";

    private final RotatingTlsContext context;

    public FleetSslEngineProvider(ActorSystem system) {
        this.context = forSystem(system);
    }

    /** The one rotating context of {@code system} (shared with its HTTPS endpoint), made on first use. */
    static RotatingTlsContext forSystem(ActorSystem system) {
        return TlsExtension.ID.get(system).context();
    }

    static RotatingTlsContext fromConfig(Config config) {
        Config c = config.getConfig(CONFIG);
        try {
            return new RotatingTlsContext(new FleetTls.Stores(Path.of(c.getString("key-store")),
                    Path.of(c.getString("trust-store")), c.getString("password")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public SSLEngine createServerSSLEngine(String hostname, int port) {
        return context.serverEngine();
    }

    @Override
    public SSLEngine createClientSSLEngine(String hostname, int port) {
        return context.clientEngine(hostname, port);
    }

    @Override
    public Option<Throwable> verifyClientSession(String hostname, SSLSession session) {
        return verify(hostname, session);
    }

    @Override
    public Option<Throwable> verifyServerSession(String hostname, SSLSession session) {
        return verify(hostname, session);
    }

    private static Option<Throwable> verify(String hostname, SSLSession session) {
        try {
            X509Certificate peer = RotatingTlsContext.peer(session);
            FleetRole role = FleetRole.of(peer);
            if (!role.mayJoinCluster()) {
                String why = "refused the cluster connection of " + peer.getSubjectX500Principal().getName() + " (" + hostname
                        + "): its role " + role.label() + " is for the HTTPS operator interface, not for membership";
                LOG.warn("{}", why);
                return Option.apply(new SSLPeerUnverifiedException(why));
            }
            return Option.empty();
        } catch (SSLPeerUnverifiedException | IllegalArgumentException e) {
            LOG.warn("refused a cluster connection ({}): {}", hostname, e.getMessage());
            return Option.apply(e);
        }
    }

    /** Holds one {@link RotatingTlsContext} per actor system. */
    static final class TlsExtension implements Extension {
        private final RotatingTlsContext context;

        TlsExtension(RotatingTlsContext context) {
            this.context = context;
        }

        RotatingTlsContext context() {
            return context;
        }

        static final class Id extends AbstractExtensionId<TlsExtension> {
            @Override
            public TlsExtension createExtension(ExtendedActorSystem system) {
                return new TlsExtension(fromConfig(system.settings().config()));
            }
        }

        static final Id ID = new Id();
    }
}
