package dev.livetap.fleet.journal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * livetap's own DDL of the PostgreSQL journal (the resource {@code postgres-journal-schema.sql}),
 * applied over plain JDBC in one transaction. Every statement is {@code IF NOT EXISTS}, so applying it
 * to a database that has the tables changes nothing.
 */
public final class JournalSchema {
    /** The DDL's resource, beside this class. */
    public static final String POSTGRES_DDL = "postgres-journal-schema.sql";
    /** How long one DDL statement may wait for a lock (another node creating the tables at once). */
    private static final int STATEMENT_TIMEOUT_S = 30;

    private JournalSchema() {
    }

    /** The DDL's statements, in order (split at lines holding a single {@code ;}). */
    public static List<String> postgresStatements() {
        String text;
        try (InputStream in = JournalSchema.class.getResourceAsStream(POSTGRES_DDL)) {
            if (in == null) {
                throw new IllegalStateException("the resource " + POSTGRES_DDL + " is missing from the class path");
            }
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + POSTGRES_DDL + ": " + e.getMessage(), e);
        }
        List<String> statements = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : text.split("\n", -1)) {
            if (line.strip().equals(";")) {
                if (!current.toString().isBlank()) {
                    statements.add(current.toString().strip());
                }
                current.setLength(0);
            } else if (!line.strip().startsWith("--")) {
                current.append(line).append('\n');
            }
        }
        if (!current.toString().isBlank()) {
            throw new IllegalStateException(POSTGRES_DDL + " ends with a statement without its ';' line");
        }
        return statements;
    }

    /** Creates the journal's tables in the PostgreSQL database at {@code url} if they are missing. */
    public static void createPostgres(String url, JournalCredentials credentials) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, credentials.user(), credentials.password())) {
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.setQueryTimeout(STATEMENT_TIMEOUT_S);
                for (String sql : postgresStatements()) {
                    st.execute(sql);
                }
                c.commit();
            } catch (SQLException e) {
                c.rollback();
                throw e;
            }
        }
    }
}
