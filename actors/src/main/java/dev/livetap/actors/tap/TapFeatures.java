package dev.livetap.actors.tap;

/** Offload capabilities the source probed on its TAP; they travel in {@code net-tap}. */
public record TapFeatures(boolean hasUfo, boolean hasUso, boolean hasTunnel) {
    public static final TapFeatures NONE = new TapFeatures(false, false, false);
}
