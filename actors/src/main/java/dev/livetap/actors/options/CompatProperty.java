package dev.livetap.actors.options;

/** One compat default, as QEMU's {@code GlobalProperty}: {@code driver.property=value}. */
public record CompatProperty(String driver, String property, String value) {
    @Override
    public String toString() {
        return driver + "." + property + "=" + value;
    }
}
