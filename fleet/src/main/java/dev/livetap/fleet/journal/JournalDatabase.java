package dev.livetap.fleet.journal;

import dev.livetap.fleet.cluster.FleetConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Where the coordinator's journal lives: an H2 file (the embedded default, one machine) or a
 * PostgreSQL database (survives losing a machine: every coordinator-capable node points at it).
 *
 * @param url         a {@code jdbc:h2:file:} or {@code jdbc:postgresql://} URL, without credentials
 * @param credentials the login (H2's default for a file)
 */
public record JournalDatabase(String url, JournalCredentials credentials) {
    public JournalDatabase {
        Objects.requireNonNull(url, "url");
        Objects.requireNonNull(credentials, "credentials");
    }

    /** The embedded H2 database in {@code file} (H2 appends {@code .mv.db}). */
    public static JournalDatabase h2File(Path file) {
        return new JournalDatabase(FleetConfig.h2File(file), JournalCredentials.H2_DEFAULT);
    }

    /**
     * A PostgreSQL database at {@code url} ({@code jdbc:postgresql://HOST[:PORT]/DB}), logging in as
     * {@code user} with the password from {@code passwordFile} or, when null, from
     * {@link JournalCredentials#PASSWORD_ENV} in {@code env}. A URL carrying a password or user is
     * refused: a command line is visible to every user of the machine.
     */
    public static JournalDatabase postgres(String url, String user, Path passwordFile, Map<String, String> env) throws IOException {
        if (!url.startsWith("jdbc:postgresql://")) {
            throw new IllegalArgumentException("a PostgreSQL journal URL is jdbc:postgresql://HOST[:PORT]/DATABASE, not: " + url);
        }
        String lower = url.toLowerCase(Locale.ROOT);
        int query = lower.indexOf('?');
        if (query >= 0 && (lower.indexOf("password=", query) >= 0 || lower.indexOf("user=", query) >= 0)) {
            throw new IllegalArgumentException("the journal URL must not carry the user or password (a command line is visible "
                    + "to every user): give --journal-user and --journal-password-file or " + JournalCredentials.PASSWORD_ENV);
        }
        if (url.substring("jdbc:postgresql://".length()).contains("@")) {
            throw new IllegalArgumentException("the journal URL must not carry credentials before the host: " + url);
        }
        return new JournalDatabase(url, JournalCredentials.of(user, passwordFile, env));
    }

    public boolean isPostgres() {
        return FleetConfig.isPostgres(url);
    }

    /** {@code config} with this journal. */
    public FleetConfig applyTo(FleetConfig config) {
        return config.withJournal(url, credentials);
    }

    /** For logs and output: the kind, the URL and the user, never the password. */
    public String describe() {
        return isPostgres() ? "PostgreSQL " + url + " as " + credentials.user() : "H2 " + url;
    }

    @Override
    public String toString() {
        return "JournalDatabase[" + describe() + "]";
    }
}
