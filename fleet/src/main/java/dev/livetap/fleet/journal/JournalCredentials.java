package dev.livetap.fleet.journal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The user and password the coordinator's node logs in to its journal database with. The password
 * comes from a file or the environment, never from a command line (where {@code ps} shows it to
 * every user); {@link #toString()} never prints it.
 */
public record JournalCredentials(String user, String password) {
    /** The environment variable a password may come from when no file is named. */
    public static final String PASSWORD_ENV = "LIVETAP_JOURNAL_PASSWORD";
    /** The embedded H2 file's login (the file is the protection, not the password). */
    public static final JournalCredentials H2_DEFAULT = new JournalCredentials("livetap", "");

    public JournalCredentials {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(password, "password");
        if (user.isBlank()) {
            throw new IllegalArgumentException("the journal's user must not be blank");
        }
    }

    /**
     * {@code user} with the password read from {@code passwordFile} (its first line) or, when that
     * is null, from {@link #PASSWORD_ENV} in {@code env}; refuses a password file other users may
     * read, and a missing password.
     */
    public static JournalCredentials of(String user, Path passwordFile, Map<String, String> env) throws IOException {
        if (passwordFile != null) {
            return new JournalCredentials(user, readPasswordFile(passwordFile));
        }
        String fromEnv = env.get(PASSWORD_ENV);
        if (fromEnv == null || fromEnv.isEmpty()) {
            throw new IllegalArgumentException("no journal password: name a file (--journal-password-file) or set "
                    + PASSWORD_ENV);
        }
        return new JournalCredentials(user, fromEnv);
    }

    /** The first line of {@code file}; the file must not be readable by group or others. */
    public static String readPasswordFile(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("the journal password file is not a regular file: " + file);
        }
        Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
        if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
            throw new IllegalArgumentException("the journal password file " + file + " is readable by other users ("
                    + PosixFilePermissions.toString(perms) + "): chmod 600 it");
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        int end = text.indexOf('\n');
        String line = end < 0 ? text : text.substring(0, end);
        if (line.endsWith("\r")) {
            line = line.substring(0, line.length() - 1);
        }
        if (line.isEmpty()) {
            throw new IllegalArgumentException("the journal password file is empty: " + file);
        }
        return line;
    }

    @Override
    public String toString() {
        return "JournalCredentials[user=" + user + ", password=" + (password.isEmpty() ? "(none)" : "(hidden)") + "]";
    }
}
