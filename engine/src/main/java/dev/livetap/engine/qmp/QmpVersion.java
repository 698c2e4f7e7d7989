package dev.livetap.engine.qmp;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What the greeting and query-version report. The default, 10.2.50, is how a QEMU development
 * tree between 10.2 and 11.0 reports itself: the backend-transfer series livetap models targets
 * that tree (its device property defaults to off for machine types up to 10.2).
 */
public record QmpVersion(int major, int minor, int micro, String pkg) {
    public static final QmpVersion DEFAULT = new QmpVersion(10, 2, 50, "livetap-0.2.0");

    /** {"qemu": {"micro": .., "minor": .., "major": ..}, "package": ..} as QEMU orders it. */
    public ObjectNode toJson() {
        ObjectNode v = QmpJson.object();
        ObjectNode q = v.putObject("qemu");
        q.put("micro", micro);
        q.put("minor", minor);
        q.put("major", major);
        v.put("package", pkg);
        return v;
    }
}
