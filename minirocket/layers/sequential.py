"""A chain of modules applied one after another."""
from dataclasses import dataclass

from minirocket.core.module import Module


@dataclass(frozen=True, slots=True)
class SequentialCtx:
    """One ctx per child, in forward order."""
    ctxs: tuple


class Sequential(Module):
    """``y = f_k(...f_2(f_1(x)))``; backward runs the children's backward in reverse.

    Parameters
    ----------
    *modules : Module or (str, Module)
        Children, named ``"0"``, ``"1"``, ... unless given as ``(name, module)`` pairs.
    """

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            name, module = m if isinstance(m, tuple) else (str(i), m)
            self.add_child(name, module)

    def __len__(self):
        return len(self._children)

    def __getitem__(self, key):
        if isinstance(key, int):
            return list(self._children.values())[key]
        return self._children[key]

    def forward(self, x, train=True):
        ctxs = []
        for m in self._children.values():
            x, ctx = m.forward(x, train)
            ctxs.append(ctx)
        return x, (SequentialCtx(tuple(ctxs)) if train else None)

    def backward(self, ctx, gy):
        for m, c in zip(reversed(list(self._children.values())), reversed(ctx.ctxs)):
            gy = m.backward(c, gy)
        return gy
