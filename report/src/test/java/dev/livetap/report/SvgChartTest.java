package dev.livetap.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

class SvgChartTest {
    @Test
    void ticksAreRoundStepsInsideTheRange() {
        assertArrayEquals(new double[] {0, 50, 100, 150, 200, 250}, SvgChart.ticks(0, 258, 4), 1e-9);
        assertArrayEquals(new double[] {-100, 0, 100, 200, 300}, SvgChart.ticks(-100, 338, 4), 1e-9);
        assertArrayEquals(new double[] {7}, SvgChart.ticks(7, 7, 4), 1e-9, "an empty range: one tick, no loop");
    }

    @Test
    void aPlotMapsDataToPixelsAndClampsWhatFallsOutside() {
        SvgChart c = new SvgChart(200, 100, "t");
        SvgChart.Plot p = c.plot(10, 0, 100, 50, 0, 10, 0, 5);
        assertEquals(10, p.x(0), 1e-9);
        assertEquals(110, p.x(10), 1e-9);
        assertEquals(110, p.x(99), 1e-9, "beyond the range: on the edge, never outside the area");
        assertEquals(50, p.y(0), 1e-9, "y grows upwards");
        assertEquals(0, p.y(5), 1e-9);
    }

    @Test
    void theOutputIsWellFormedSvgWithEscapedText() throws Exception {
        SvgChart c = new SvgChart(300, 120, "a <b> & \"c\"");
        c.plot(30, 10, 250, 80, 0, 1, 0, 1).frame().xAxis(4, "s").yAxis(3, "ms").band(0.2, 0.4, "#f00", 0.5, "x < y")
                .point(0.5, 0.5, 2, "#00f", "p & q").bar(0.6, 0.7, 0, 0.8, "#0f0", null).tick(0.9, true, 5, "#f00", "lost");
        String svg = c.toSvg();
        Document d = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
        assertEquals("svg", d.getDocumentElement().getTagName());
        assertEquals("a <b> & \"c\"", d.getDocumentElement().getAttribute("aria-label"));
        assertTrue(d.getElementsByTagName("title").getLength() >= 3, svg);
        assertEquals("x < y", d.getElementsByTagName("title").item(0).getTextContent());
    }
}
