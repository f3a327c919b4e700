package org.tune4j.bench.peers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;

/**
 * AdamW state for the trained tensors, updated by PyTorch's native Adam kernel (DJL's adamUpdate): a speed
 * peer. Its eps is added to the uncorrected √v (MXNet's form, eps/√(1-β2^t) in torch.optim.AdamW's terms), so
 * its values differ from PyTorch's optimizer where gradients are near eps; BertTrainingParityTest writes
 * torch.optim.AdamW's update in PyTorch's ops instead.
 */
final class DjlAdamW {
    final List<NDArray> params;
    final List<NDArray> mean = new ArrayList<>(), variance = new ArrayList<>();
    int t;

    DjlAdamW(NDManager m, List<NDArray> params) {
        this.params = params;
        for (NDArray p : params) {
            mean.add(m.zeros(p.getShape()));
            variance.add(m.zeros(p.getShape()));
        }
    }

    void step(NDManager scratch, float lr, float weightDecay) {
        t++;
        float beta1 = 0.9f, beta2 = 0.999f;
        float corrected = (float) (lr * Math.sqrt(1 - Math.pow(beta2, t)) / (1 - Math.pow(beta1, t)));
        for (int i = 0; i < params.size(); i++) {
            NDArray p = params.get(i), grad = p.getGradient();
            grad.attach(scratch);
            p.getNDArrayInternal().adamUpdate(new NDList(p, grad, mean.get(i), variance.get(i)), new NDList(p), lr,
                    corrected, weightDecay, 1f, -1f, beta1, beta2, 1e-8f, false, true);
        }
    }
}
