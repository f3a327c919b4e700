package org.tune4j.bench.peers;

import java.util.ArrayList;
import java.util.List;

/** Stands in for a peer that is not in this build, so that its rows say so instead of vanishing. */
public record MissingPeer(String name, String why) implements GemmPeer {
    @Override
    public List<PeerResult> measure(List<Shape> shapes, boolean quick, Ours ours) {
        List<PeerResult> out = new ArrayList<>();
        for (int i = 0; i < shapes.size(); i++) out.add(PeerResult.failed(name, why));
        return out;
    }
}
