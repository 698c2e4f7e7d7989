package dev.livetap.fleet.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManagerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TLS context of a fleet member, read from its stores and read again when they change: every new connection
 * (cluster transport or HTTPS) first compares the files' identity (inode, size, modification time) with the ones
 * it was built from, so certificates placed in the directory (renamed into place) take effect without a restart,
 * while connections already open keep the engine they began with. A change that does not load (a half-written
 * store, a password that does not fit yet) keeps the previous context and is logged; the next connection tries
 * again. One instance per actor system; thread-safe.
 */
public final class RotatingTlsContext {
    private static final Logger LOG = LoggerFactory.getLogger(RotatingTlsContext.class);
    /** TLS 1.3 only, its two AES-GCM suites: the same on the cluster transport and on HTTPS. */
    static final String PROTOCOL = "TLSv1.3";
    static final String[] CIPHER_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"};

    private final Path keyStore;
    private final Path trustStore;
    private final Path passwordFile;
    private final String fixedPassword;
    private Loaded loaded;

    /** What a context was built from: the files' identities, so that a replaced file is noticed. */
    private record Loaded(List<Object> identity, SSLContext context, X509Certificate own, int trusted) {
    }

    /**
     * The stores of {@code stores}; when a {@value FleetTls#PASSWORD} file lies beside the key store (a directory
     * from {@code scripts/fleet-certs}) the password is read from it at every reload, else {@code stores}' own.
     *
     * @throws IOException the stores do not load now (nothing to fall back on at start)
     */
    public RotatingTlsContext(FleetTls.Stores stores) throws IOException {
        Objects.requireNonNull(stores, "stores");
        this.keyStore = stores.keyStore();
        this.trustStore = stores.trustStore();
        Path beside = stores.keyStore().resolveSibling(FleetTls.PASSWORD);
        this.passwordFile = Files.isReadable(beside) ? beside : null;
        this.fixedPassword = stores.password();
        try {
            this.loaded = load(identity());
        } catch (GeneralSecurityException e) {
            throw new IOException("the TLS stores " + keyStore + ", " + trustStore + " do not load: " + e.getMessage(), e);
        }
    }

    /** A server engine (the peer must present a certificate) from the current stores. */
    public SSLEngine serverEngine() {
        SSLEngine engine = engine(null, -1);
        engine.setUseClientMode(false);
        engine.setNeedClientAuth(true);
        return engine;
    }

    /** A client engine for {@code host:port} from the current stores. */
    public SSLEngine clientEngine(String host, int port) {
        SSLEngine engine = engine(host, port);
        engine.setUseClientMode(true);
        return engine;
    }

    /** The current context (reloaded first if the stores changed): for clients such as {@code java.net.http}. */
    public synchronized SSLContext context() {
        refresh();
        return loaded.context();
    }

    /** This member's own certificate in the current key store. */
    public synchronized X509Certificate certificate() {
        refresh();
        return loaded.own();
    }

    private SSLEngine engine(String host, int port) {
        SSLEngine engine = host == null ? context().createSSLEngine() : context().createSSLEngine(host, port);
        engine.setEnabledProtocols(new String[] {PROTOCOL});
        engine.setEnabledCipherSuites(CIPHER_SUITES);
        return engine;
    }

    /** Reloads when a store's file (or the password file) is not the one the context was built from. */
    private void refresh() {
        List<Object> now;
        try {
            now = identity();
        } catch (IOException e) {
            LOG.warn("TLS stores not readable now, keeping the loaded ones: {}", e.getMessage());
            return;
        }
        if (now.equals(loaded.identity())) {
            return;
        }
        try {
            Loaded next = load(now);
            LOG.info("TLS stores reloaded: certificate {} (serial {}, valid until {}), {} trusted CA certificate(s)",
                    next.own().getSubjectX500Principal().getName(), next.own().getSerialNumber().toString(16),
                    next.own().getNotAfter().toInstant(), next.trusted());
            loaded = next;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            // a store caught mid-replacement: the next connection looks again; the identity is not remembered
            LOG.warn("TLS stores changed but do not load ({}), keeping the previous ones until they do", e.getMessage());
        }
    }

    private List<Object> identity() throws IOException {
        List<Object> id = new ArrayList<>();
        for (Path p : passwordFile == null ? List.of(keyStore, trustStore) : List.of(keyStore, trustStore, passwordFile)) {
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            id.add(a.fileKey());
            id.add(a.size());
            id.add(a.lastModifiedTime());
        }
        return id;
    }

    private Loaded load(List<Object> identity) throws IOException, GeneralSecurityException {
        char[] password = (passwordFile == null ? fixedPassword
                : Files.readString(passwordFile, StandardCharsets.UTF_8).strip()).toCharArray();
        KeyStore keys = open(keyStore, password);
        KeyStore trust = open(trustStore, password);
        X509Certificate own = null;
        for (String alias : Collections.list(keys.aliases())) {
            if (keys.isKeyEntry(alias) && keys.getCertificate(alias) instanceof X509Certificate c) {
                own = c;
            }
        }
        if (own == null) {
            throw new GeneralSecurityException(keyStore + " holds no key with a certificate");
        }
        int trusted = 0;
        for (String alias : Collections.list(trust.aliases())) {
            Certificate c = trust.getCertificate(alias);
            trusted += c == null ? 0 : 1;
        }
        if (trusted == 0) {
            throw new GeneralSecurityException(trustStore + " holds no certificate");
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, password);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext context = SSLContext.getInstance(PROTOCOL);
        context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), new SecureRandom());
        return new Loaded(List.copyOf(identity), context, own, trusted);
    }

    private static KeyStore open(Path file, char[] password) throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(file)) {
            store.load(in, password);
        }
        return store;
    }

    /** The peer's certificate of an established session (TLS with mutual authentication always has one). */
    public static X509Certificate peer(SSLSession session) throws SSLPeerUnverifiedException {
        Certificate[] chain = session.getPeerCertificates();
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate c)) {
            throw new SSLPeerUnverifiedException("the peer presented no X.509 certificate");
        }
        return c;
    }
}
