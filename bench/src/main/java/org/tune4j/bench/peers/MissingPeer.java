package org.tune4j.bench.peers;

import java.util.ArrayList;
import java.util.List;

/** Stands in for a peer that is not in this build, so that its rows say so instead of vanishing. */
public record MissingPeer(String name, String why) implements GemmPeer {
    @Override
    public List<Result> measure(List<Shape> shapes, boolean quick, Ours ours) {
        List<Result> out = new ArrayList<>();
        for (int i = 0; i < shapes.size(); i++) out.add(new Result(name, null, why));
        return out;
    }
}
