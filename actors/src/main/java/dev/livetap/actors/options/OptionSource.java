package dev.livetap.actors.options;

/**
 * Where option values came from; decides how values are typed and how a mistake is phrased
 * (QEMU words its command-line and QMP errors differently).
 */
public enum OptionSource {
    /** A QEMU-style option string such as {@code tap,id=net0,queues=4}: every value is text. */
    OPTION_STRING,
    /** QMP arguments parsed from JSON: booleans, integers and strings keep their JSON types. */
    QMP
}
