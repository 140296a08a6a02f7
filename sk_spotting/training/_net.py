"""The skorch network that trains one spotting network on sampled chunks.

Shape legend: b batch, t frames, c classes, d features.

:class:`SpottingNet` is a :class:`skorch.NeuralNet` whose training step does
what the paper does (docs/method.md): optional batch mixup (confidence network only),
a forward/backward pass under optional autocast, optional Sharpness-Aware
Minimization (a second pass at the perturbed weights on the same batch), and
one AdamW step.  Data come from a :class:`~sk_spotting.training.ChunkSampler`
passed as ``X`` to ``fit``; losses are summed on the device and read back once
per epoch, so the hot loop never waits for the host.
"""

from __future__ import annotations

import torch
from skorch import NeuralNet
from skorch.callbacks import EpochTimer
from skorch.utils import TeeGenerator

from ..nn import confidence_loss, displacement_loss
from ._mixup import mixup_batch
from ._sam import perturb_weights, restore_weights

__all__ = ["SpottingNet", "ConfidenceCriterion", "DisplacementCriterion"]


class ConfidenceCriterion(torch.nn.Module):
    """Weighted BCE-with-logits confidence loss as a module (docs/method.md).

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.training import ConfidenceCriterion
    >>> loss = ConfidenceCriterion()(torch.zeros(1, 2, 1), torch.ones(1, 2, 1),
    ...                              torch.ones(1, 2, 1))
    >>> round(float(loss), 4)
    0.6931
    """

    def __init__(self):
        super().__init__()

    def forward(self, logits, target, weight):
        """Weighted confidence loss of a batch.

        Parameters
        ----------
        logits, target, weight : torch.Tensor of shape (b, t, c)
            Confidence logits, binary (or mixed) targets and anchor weights.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        return confidence_loss(logits, target, weight)


class DisplacementCriterion(torch.nn.Module):
    """Weighted Huber displacement loss as a module (docs/method.md).

    Parameters
    ----------
    radius : float
        Displacement radius in frames; displacements are normalised by it.
    huber_delta : float, default=0.5
        Huber threshold in normalised units.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.training import DisplacementCriterion
    >>> criterion = DisplacementCriterion(radius=12.0)
    >>> float(criterion(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1),
    ...                 torch.ones(1, 1, 1)))
    0.0
    """

    def __init__(self, radius, huber_delta=0.5):
        super().__init__()
        self.radius = float(radius)
        self.huber_delta = float(huber_delta)

    def forward(self, displacement, target, weight):
        """Weighted displacement loss of a batch.

        Parameters
        ----------
        displacement, target, weight : torch.Tensor of shape (b, t, c)
            Predicted and target displacements in frames, and anchor weights
            (0 outside the radius).

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        return displacement_loss(
            displacement,
            target,
            weight,
            radius=self.radius,
            huber_delta=self.huber_delta,
        )


def _forward_loss(module, criterion, x, target, weight, autocast_dtype, device_type):
    """Forward pass (under autocast when ``autocast_dtype``) and float32 loss."""
    with torch.autocast(
        device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None
    ):
        prediction = module(x)
    return criterion(prediction.float(), target, weight)


class _LossGraph(torch.nn.Module):
    """:func:`_forward_loss` as one module, the unit that ``torch.compile`` sees."""

    def __init__(self, module, criterion, autocast_dtype, device_type):
        super().__init__()
        self.module = module
        self.criterion = criterion
        self.autocast_dtype = autocast_dtype
        self.device_type = device_type

    def forward(self, x, target, weight):
        return _forward_loss(
            self.module,
            self.criterion,
            x,
            target,
            weight,
            self.autocast_dtype,
            self.device_type,
        )


class _SameAsFitted:
    """Pickled stand-in for a parameter that is its fitted attribute."""

    def __init__(self, attribute):
        self.attribute = attribute


class SpottingNet(NeuralNet):
    """skorch ``NeuralNet`` training one dense-anchor network.

    Parameters
    ----------
    module : torch.nn.Module
        The network (input MLP, trunk and one head), mapping ``(b, t, d)`` to
        ``(b, t, c)``.
    criterion : torch.nn.Module
        ``criterion(prediction, target, weight) -> loss``.
    sam_rho : float, default=0.0
        SAM neighbourhood radius; 0 disables SAM.
    mixup_alpha : float, default=0.0
        Beta parameter of mixup; 0 disables mixup.
    autocast_dtype : torch.dtype or None, default=None
        Autocast type for forward passes (``torch.bfloat16`` on GPUs), or None
        for full float32.
    train_compile : dict or None, default=None
        Keyword arguments of :func:`torch.compile` for the training forward
        pass and loss (``{}`` for its defaults), or None to run them eagerly.
        Only training is compiled: ``module_`` stays the plain module, so
        inference, ``state_dict`` and pickles are unchanged.  (skorch's own
        ``compile`` would replace ``module_`` by the compiled wrapper.)
    distributed : DistributedContext or None, default=None
        Train data-parallel with the other ranks of the process group: the
        training passes run through a
        :class:`~torch.nn.parallel.DistributedDataParallel` wrapper of
        ``module_`` (so every backward pass, both of SAM's, averages the
        gradients over the ranks) and the epoch loss is the mean over the
        ranks.  ``module_`` stays the plain module; the wrapper is dropped
        when training ends.  Every rank must run the same steps.
    **kwargs
        Other :class:`skorch.NeuralNet` arguments (``optimizer``, ``lr``,
        ``max_epochs``, ``callbacks``, ``device``, ...).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sk_spotting.training import ChunkSampler, SpottingNet, ConfidenceCriterion
    >>> module = torch.nn.Linear(3, 2)
    >>> video = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    >>> target = np.zeros((40, 2), np.float32)
    >>> sampler = ChunkSampler([video], [target], [np.ones_like(target)],
    ...                        chunk_frames=8, batch_size=4, chunks_per_epoch=8)
    >>> net = SpottingNet(module, criterion=ConfidenceCriterion(), max_epochs=2,
    ...                   optimizer=torch.optim.AdamW, lr=1e-2)
    >>> net = net.fit(sampler)
    >>> len(net.history)
    2
    """

    def __init__(
        self,
        module,
        *,
        criterion,
        sam_rho=0.0,
        mixup_alpha=0.0,
        autocast_dtype=None,
        train_compile=None,
        distributed=None,
        **kwargs,
    ):
        kwargs.setdefault("train_split", None)
        super().__init__(module, criterion=criterion, **kwargs)
        self.sam_rho = sam_rho
        self.mixup_alpha = mixup_alpha
        self.autocast_dtype = autocast_dtype
        self.train_compile = train_compile
        self.distributed = distributed

    def __getstate__(self):
        # skorch moves ``module_`` and ``criterion_`` through its device-aware
        # path, but the ``module`` / ``criterion`` parameters are the same
        # instances here (they are passed built) and would be pickled as
        # plain tensors that a CPU-only machine cannot load when fitted on a
        # GPU.  Pickle them as references to the fitted attributes instead.
        state = super().__getstate__()
        # a compiled graph is not picklable; it is rebuilt on the next step
        state.pop("_compiled_loss", None)
        state.pop("_parallel", None)  # the DistributedDataParallel wrapper
        for name in ("module", "criterion"):
            if state.get(name) is not None and state[name] is getattr(
                self, name + "_", None
            ):
                state[name] = _SameAsFitted(name + "_")
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        for name in ("module", "criterion"):
            value = self.__dict__.get(name)
            if isinstance(value, _SameAsFitted):
                setattr(self, name, getattr(self, value.attribute))

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``epochs`` more epochs (default ``max_epochs``).

        Unlike skorch's, an interruption (Ctrl-C) is not swallowed: it
        propagates, leaving the last checkpoint as the record of progress.

        Parameters
        ----------
        X : ChunkSampler
            The training batches, one epoch per iteration.
        y : None
            Unused: the targets come with ``X``.
        classes : None
            Unused, for skorch's signature.
        **fit_params
            ``epochs``, the number of epochs to run (default ``max_epochs``);
            the others are passed to :meth:`train_step`.

        Returns
        -------
        self : SpottingNet
        """
        if not self.initialized_:
            self.initialize()
        fit_params.pop("_routing_method", None)
        self.notify("on_train_begin", X=X, y=y)
        try:
            self.fit_loop(X, y, **fit_params)
        finally:
            if self.distributed is not None:  # the wrapper holds gradient buckets
                self.__dict__.pop("_parallel", None)
                self.__dict__.pop("_compiled_loss", None)
        self.notify("on_train_end", X=X, y=y)
        return self

    def get_default_callbacks(self):
        # skorch's defaults read per-batch losses; ours are logged per epoch.
        return [("epoch_timer", EpochTimer())]

    def get_dataset(self, X, y=None):
        return X

    def get_iterator(self, dataset, training=False):
        return dataset

    def _training_module(self):
        """``module_``, or its data-parallel wrapper when training is distributed."""
        if self.distributed is None:
            return self.module_
        cached = self.__dict__.get("_parallel")
        if cached is None or cached.module is not self.module_:
            device = torch.device(self.device)
            cached = torch.nn.parallel.DistributedDataParallel(
                self.module_,
                device_ids=[device] if device.type == "cuda" else None,
            )
            self.__dict__["_parallel"] = cached
        return cached

    def _forward_loss(self, x, target, weight):
        if self.train_compile is None:
            return _forward_loss(
                self._training_module(),
                self.criterion_,
                x,
                target,
                weight,
                self.autocast_dtype,
                torch.device(self.device).type,
            )
        return self._compiled_loss_graph()(x, target, weight)

    def _compiled_loss_graph(self):
        """The compiled forward + loss of the current ``module_``, built once."""
        module = self._training_module()
        cached = self.__dict__.get("_compiled_loss")
        if (
            cached is None
            or cached[0] is not module
            or cached[1] is not self.criterion_
        ):
            graph = _LossGraph(
                module,
                self.criterion_,
                self.autocast_dtype,
                torch.device(self.device).type,
            )
            compiled = torch.compile(graph, **dict(self.train_compile))
            cached = (module, self.criterion_, compiled)
            self.__dict__["_compiled_loss"] = cached
        return cached[2]

    def train_step_single(self, batch, **fit_params):
        """Forward and backward on a batch ``(x, target, weight)``: mixup, SAM.

        Leaves in ``.grad`` the gradient to step with: with SAM, the gradient
        at the perturbed weights, the weights themselves restored.

        Parameters
        ----------
        batch : tuple of torch.Tensor
            ``(x, target, weight)``: features ``(b, t, d)``, targets and loss
            weights ``(b, t, c)``.
        **fit_params
            Unused, for skorch's signature.

        Returns
        -------
        step : dict
            ``"loss"``: the loss at the unperturbed weights, a tensor left on
            the device; ``"y_pred"``: None.
        """
        self._set_training(True)
        x, target, weight = batch
        if self.mixup_alpha > 0:
            x, target, weight = mixup_batch(x, target, weight, alpha=self.mixup_alpha)
        loss = self._forward_loss(x, target, weight)
        loss.backward()
        if self.sam_rho > 0:
            params = [p for p in self.module_.parameters() if p.requires_grad]
            perturbation = perturb_weights(params, self.sam_rho)
            self.optimizer_.zero_grad(set_to_none=True)
            self._forward_loss(x, target, weight).backward()
            restore_weights(params, perturbation)
        return {"loss": loss.detach(), "y_pred": None}

    def train_step(self, batch, **fit_params):
        """One optimizer step: :meth:`train_step_single`, callbacks, AdamW.

        Callbacks' ``on_grad_computed`` runs between the gradient (at the
        perturbed weights with SAM) and the optimizer step, so that skorch's
        ``GradientNormClipping`` and gradient loggers act on the gradient
        that is applied.

        Parameters
        ----------
        batch : tuple of torch.Tensor
            ``(x, target, weight)``, as for :meth:`train_step_single`.
        **fit_params
            Passed to :meth:`train_step_single`.

        Returns
        -------
        step : dict
            What :meth:`train_step_single` returned.
        """
        self.optimizer_.zero_grad(set_to_none=True)
        step = self.train_step_single(batch, **fit_params)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.get_all_learnable_params()),
            batch=batch,
        )
        self.optimizer_.step()
        return step

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """Run the batches of one epoch; the mean loss is synchronised once.

        Parameters
        ----------
        iterator : iterable or None
            The batches; None runs nothing (no validation data).
        training : bool
            Whether the batches are training batches (passed to callbacks).
        prefix : str
            History prefix: ``"train"`` records ``train_loss`` and
            ``train_batch_count``.
        step_fn : callable
            ``step_fn(batch, **fit_params) -> dict`` with a ``"loss"``.
        **fit_params
            Passed to ``step_fn``.
        """
        if iterator is None:
            return
        total, n_batches = None, 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            total = step["loss"] if total is None else total + step["loss"]
            self.notify("on_batch_end", batch=batch, training=training, **step)
            n_batches += 1
        loss = total / n_batches
        if self.distributed is not None:
            loss = self.distributed.mean(loss)
        self.history.record(prefix + "_batch_count", n_batches)
        self.history.record(prefix + "_loss", float(loss))
