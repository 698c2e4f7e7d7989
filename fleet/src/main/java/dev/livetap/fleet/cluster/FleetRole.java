package dev.livetap.fleet.cluster;

import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Optional;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * What the holder of a fleet certificate may do, carried by the certificate's subject: its organizational unit
 * ({@code OU=livetap-read} or {@code OU=livetap-operate}, as {@code scripts/fleet-certs --role} writes it); a
 * certificate without such an OU is a {@link #MEMBER} (nodes and agents, and every certificate made before roles
 * existed). docs/security.md "Operator rights".
 */
public enum FleetRole {
    /** Reads: {@code GET /fleet/status} and the health routes over HTTPS; never a cluster member. */
    READ("livetap-read"),
    /** Reads and acts on a plan (start, pause, resume, abort); may join the cluster as an operator member. */
    OPERATE("livetap-operate"),
    /** A node or an agent: a cluster member, with every operator right. */
    MEMBER(null);

    /** The OU value naming the role; null for {@link #MEMBER} (no OU). */
    private final String unit;

    FleetRole(String unit) {
        this.unit = unit;
    }

    /** The subject OU that carries this role; empty for {@link #MEMBER}. */
    public Optional<String> unit() {
        return Optional.ofNullable(unit);
    }

    /** An operator's command, by the right it needs. */
    public enum Command {
        STATUS(false), PLAN_PREVIEW(false), HEALTH(false), START(true), PAUSE(true), RESUME(true), ABORT(true);

        private final boolean acts;

        Command(boolean acts) {
            this.acts = acts;
        }

        /** True for a command that changes a plan (needs {@link #OPERATE} or {@link #MEMBER}). */
        public boolean acts() {
            return acts;
        }

        /** The command's name as the CLI and the audit log spell it. */
        public String label() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /** True if this role may run {@code command}. */
    public boolean allows(Command command) {
        return this != READ || !command.acts();
    }

    /** True if a peer with this role may be a cluster member (a read-only certificate may not: members can do anything). */
    public boolean mayJoinCluster() {
        return this != READ;
    }

    /** The one-line refusal of {@code command} for this role, or empty when it is allowed. */
    public Optional<String> refusal(Command command, String who) {
        if (allows(command)) {
            return Optional.empty();
        }
        return Optional.of(who + " has the role " + label() + ", which may not " + command.label()
                + " (it needs a certificate with OU=" + OPERATE.unit + " or a member's)");
    }

    /** The role's name in messages and logs. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The role of a certificate. */
    public static FleetRole of(X509Certificate certificate) {
        return ofSubject(certificate.getSubjectX500Principal().getName());
    }

    /**
     * The role named by an RFC 2253 subject: {@link #READ} or {@link #OPERATE} by its OU, {@link #MEMBER} with no OU
     * of livetap's. An unknown {@code livetap-*} OU, or two role OUs, is refused rather than guessed.
     *
     * @throws IllegalArgumentException the subject is not a distinguished name, or names an unknown or a second role
     */
    public static FleetRole ofSubject(String subject) {
        FleetRole found = MEMBER;
        for (Rdn rdn : parse(subject).getRdns()) {
            if (!rdn.getType().equalsIgnoreCase("OU")) {
                continue;
            }
            String value = String.valueOf(rdn.getValue());
            if (!value.startsWith("livetap-")) {
                continue;
            }
            FleetRole role = null;
            for (FleetRole r : values()) {
                if (value.equals(r.unit)) {
                    role = r;
                }
            }
            if (role == null) {
                throw new IllegalArgumentException("certificate subject " + subject + ": unknown role OU=" + value
                        + " (known: OU=" + READ.unit + ", OU=" + OPERATE.unit + ")");
            }
            if (found != MEMBER && found != role) {
                throw new IllegalArgumentException("certificate subject " + subject + " names two roles");
            }
            found = role;
        }
        return found;
    }

    /** The subject's common name (CN), or the whole subject when it has none: who, in the audit log. */
    public static String commonName(String subject) {
        for (Rdn rdn : parse(subject).getRdns()) {
            if (rdn.getType().equalsIgnoreCase("CN")) {
                return String.valueOf(rdn.getValue());
            }
        }
        return subject;
    }

    private static LdapName parse(String subject) {
        try {
            return new LdapName(subject);
        } catch (InvalidNameException e) {
            throw new IllegalArgumentException("not a distinguished name: " + subject, e);
        }
    }
}
