package dev.livetap.tools;

import dev.livetap.fleet.cluster.FleetConfig;
import dev.livetap.fleet.cluster.FleetRole;
import dev.livetap.fleet.cluster.RotatingTlsContext;
import dev.livetap.fleet.cluster.FleetTls;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The cluster transport's security, shared by every fleet command that joins the cluster ({@code fleet node},
 * {@code agent}, {@code fleet start|status|pause|resume|abort}): TLS with mutual authentication unless
 * {@code --no-tls} is given. docs/fleet.md "Security and health".
 */
final class FleetTransportOptions {
    /** Read when {@code --tls-dir} is not given. */
    static final String TLS_DIR_ENV = "LIVETAP_FLEET_TLS_DIR";

    @Option(names = "--tls-dir", paramLabel = "DIR", defaultValue = "${env:" + TLS_DIR_ENV + "}",
            description = "TLS is on by default (cluster transport and operators, mutual authentication): DIR holds this "
                    + "member's node.p12, trust.p12 (the fleet CA) and password, as scripts/fleet-certs DIR0 NAME writes "
                    + "them to DIR0/NAME. Default: $" + TLS_DIR_ENV + ".")
    Path tlsDir;

    @Option(names = "--no-tls", description = "Plain TCP on the cluster transport: no encryption, no authentication. Only "
            + "for tests and benches whose members all run on loopback; every member of the fleet must agree.")
    boolean noTls;

    /** The transport's security, or a {@link BadOptionValue} saying how to get one. */
    FleetTls tls() {
        if (noTls) {
            return FleetTls.OFF;
        }
        if (tlsDir == null) {
            throw new BadOptionValue("TLS is on by default: give --tls-dir DIR (scripts/fleet-certs makes test certificates; "
                    + "or set " + TLS_DIR_ENV + "), or --no-tls for a fleet on loopback without it");
        }
        FleetTls.Stores stores;
        FleetRole role;
        try {
            stores = FleetTls.fromDirectory(tlsDir);
            role = FleetRole.of(new RotatingTlsContext(stores).certificate());
        } catch (IOException | IllegalArgumentException e) {
            throw new BadOptionValue("--tls-dir: " + e.getMessage());
        }
        if (!role.mayJoinCluster()) {
            // the fleet would refuse it in the handshake and the command would only time out: say why now
            throw new BadOptionValue("--tls-dir " + tlsDir + ": the certificate has the role " + role.label()
                    + ", which may not join the cluster; read over HTTPS instead (GET https://127.0.0.1:P/fleet/status on a "
                    + "node's MANAGEMENT port, docs/security.md), or use a certificate with OU=livetap-operate");
        }
        return stores;
    }

    /** {@code --management-port}, for the long-running members (node, agent). */
    static final class Management {
        @Option(names = "--management-port", paramLabel = "P", defaultValue = "0",
                description = "Pekko Management's read-only endpoint on 127.0.0.1 (GET /cluster/members, /ready, /alive), "
                        + "HTTPS with client certificates and the operator routes (GET /fleet/status, POST /fleet/pause|resume|"
                        + "abort) when TLS is on, plain HTTP with --no-tls: 0 any free port (printed as MANAGEMENT URI), -1 off, "
                        + "else the port; default ${DEFAULT-VALUE}.")
        int port;

        int port() {
            return BadOptionValue.range("--management-port", port, FleetConfig.MANAGEMENT_OFF, 65535);
        }
    }
}
