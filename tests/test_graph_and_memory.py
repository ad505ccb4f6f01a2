"""GNN resolver and encoders (real torch_geometric layers) and the TGN interest memory on tiny graphs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch_geometric.nn.models.tgn import TGNMemory

from igcore.decode.fusion import SourceFusion
from igcore.embed.gnn import GNNS, GraphEncoder, bipartite_edge_index, resolve_gnn, transition_edge_index
from igcore.embed.graph import graph_operator, neighbourhood_blocks, user_vectors
from igcore.update.memory import InterestMemory


def test_resolver_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: gin, gcn, gat, sage, lightgcn"):
        resolve_gnn("transformer")
    assert resolve_gnn("GIN") is GNNS["gin"]


def test_bipartite_edges_are_distinct_and_both_ways():
    edges = bipartite_edge_index(torch.tensor([0, 0, 1]), torch.tensor([1, 1, 0]), n_users=2)
    assert edges.tolist() == [[0, 1, 3, 2], [3, 2, 0, 1]]  # by user, then item; then the reverse directions


def test_transition_edges_link_the_items_a_user_chose_one_after_another():
    # user 0: items 2, 3, 3, 2 (a repeat is no edge); user 1: items 3, 4; user 2: item 0 alone; 2 users first
    users, items = torch.tensor([0, 1, 0, 2, 0, 1, 0]), torch.tensor([2, 3, 3, 0, 3, 4, 2])
    edges = transition_edge_index(users, items, n_users=3)
    assert edges.tolist() == [[5, 6, 6, 7], [6, 5, 7, 6]]  # items 2-3 and 3-4, both ways; users and item 0 alone
    assert transition_edge_index(torch.tensor([0, 1]), torch.tensor([0, 1]), n_users=2).shape == (2, 0)


def test_bipartite_edges_are_torchs_distinct_pairs_in_its_order():
    # The integer-key unique must give exactly torch.unique(dim=1)'s pairs and order: message passing sums
    # in edge order, so another order would change trained models' scores in the last float bits.
    g = torch.Generator().manual_seed(0)
    users, items = torch.randint(0, 50, (2000,), generator=g), torch.randint(0, 300, (2000,), generator=g)
    pairs = torch.unique(torch.stack([users, items + 50]), dim=1)
    assert torch.equal(bipartite_edge_index(users, items, n_users=50), torch.cat([pairs, pairs.flip(0)], dim=1))
    assert bipartite_edge_index(users[:0], items[:0], n_users=50).shape == (2, 0)


@pytest.mark.parametrize("kind", list(GNNS))
def test_every_encoder_embeds_every_node_and_isolated_nodes_see_no_neighbours(kind):
    torch.manual_seed(0)
    enc = GraphEncoder(kind, dim=8, layers=2).eval()
    x = torch.randn(5, 8)
    edges = bipartite_edge_index(torch.tensor([0, 1]), torch.tensor([0, 1]), n_users=2)  # node 4 isolated
    out = enc(x, edges)
    assert out.shape == (5, 8) and torch.isfinite(out).all()
    x2 = x.clone()
    x2[2] += 1.0  # change item 0's features: its user (node 0) changes, the isolated node 4 does not
    out2 = enc(x2, edges)
    assert not torch.allclose(out[0], out2[0])
    assert torch.allclose(out[4], out2[4])


def test_gin_layer_is_mlp_of_self_plus_neighbour_sum():
    torch.manual_seed(0)
    conv = resolve_gnn("gin")(4, 4)
    x = torch.randn(3, 4)
    edges = torch.tensor([[1, 2], [0, 0]])  # nodes 1 and 2 send to node 0
    expected = conv.nn((1 + conv.eps) * x[0] + x[1] + x[2])
    assert torch.allclose(conv(x, edges)[0], expected, atol=1e-6)


def _tiny_graph():
    # users 0-3, items 0-4 (nodes 4-8): user 0 - items 0, 1; user 1 - item 1, 2; user 2 - item 3; user 3 - item 4
    users, items = torch.tensor([0, 0, 1, 1, 2, 3]), torch.tensor([0, 1, 1, 2, 3, 4])
    return graph_operator([(users.numpy(), items.numpy())], 4, 5, "gin", "cpu")


def test_neighbourhood_blocks_hold_each_layers_nodes_first_and_their_neighbours_after():
    nodes, blocks = neighbourhood_blocks(_tiny_graph(), torch.tensor([0]), layers=3)
    # user 0 -> its items 4, 5 -> item 5's other user 1 -> user 1's other item 6
    assert nodes.tolist() == [0, 4, 5, 1, 6]
    assert [tuple(b.shape) for b in blocks] == [(4, 5), (3, 4), (1, 3)]
    assert blocks[0].to_dense().tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 1, 0], [0, 0, 1, 0, 1]]
    assert blocks[2].to_dense().tolist() == [[0, 1, 1]]


@pytest.mark.parametrize("kind", ["gin", "sage"])
def test_a_local_gnn_on_the_users_neighbourhoods_gives_their_rows_of_the_whole_graphs_output(kind):
    torch.manual_seed(0)
    gnn = GraphEncoder(kind, dim=8, layers=3)
    assert gnn.local
    items = torch.randn(6, 8, requires_grad=True)  # row 0 pads
    graph, users = _tiny_graph(), torch.tensor([3, 0])
    whole = user_vectors(gnn, items, graph, n_users=4)
    (whole_grad,) = torch.autograd.grad(whole[users].sum(), items)
    part = user_vectors(gnn, items, graph, n_users=4, users=users)
    (part_grad,) = torch.autograd.grad(part.sum(), items)
    assert torch.allclose(part, whole[users], atol=1e-6) and torch.allclose(part_grad, whole_grad, atol=1e-6)
    assert part_grad[4].abs().sum() == 0 and part_grad[3].abs().sum() > 0  # item 3 is user 2's alone; item 2
    # is three hops from user 0


def _memory() -> InterestMemory:
    torch.manual_seed(0)
    mem = InterestMemory(n_users=3, n_items=4, memory_dim=8, time_dim=4)
    mem.reset_state()
    return mem


def test_memory_advances_only_for_touched_nodes():
    mem = _memory()
    mem.train()
    mem.eval()  # switching modes must not move any memory
    mem.observe(torch.tensor([0]), torch.tensor([1]), torch.tensor([10]))
    memory = mem.tgn.memory
    assert memory[0].abs().sum() > 0 and mem.item_memory(torch.tensor([1])).abs().sum() > 0
    untouched = [1, 2, 3, 5, 6]  # users 1, 2 and items 0, 2, 3
    assert memory[untouched].abs().sum() == 0
    assert mem.last_update().tolist() == [10, 0, 0, 0, 10, 0, 0]


def test_events_of_one_batch_do_not_see_each_other():
    together, alone = _memory(), _memory()
    together.observe(torch.tensor([1, 1]), torch.tensor([2, 3]), torch.tensor([20, 21]))
    alone.observe(torch.tensor([1]), torch.tensor([3]), torch.tensor([21]))
    # Item 3's message was built from user 1's memory before the batch, untouched by the (1, 2) event.
    assert torch.allclose(together.item_memory(torch.tensor([3])), alone.item_memory(torch.tensor([3])))
    sequential = _memory()
    sequential.observe(torch.tensor([1]), torch.tensor([2]), torch.tensor([20]))
    sequential.observe(torch.tensor([1]), torch.tensor([3]), torch.tensor([21]))
    assert not torch.allclose(sequential.item_memory(torch.tensor([3])), alone.item_memory(torch.tensor([3])))


def test_observe_returns_each_events_user_memory_before_its_batch():
    """What a training position reads as its memory source: never a state that already holds its target."""
    mem = _memory()
    first = mem.observe(torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([10, 11])).user_before
    assert first.shape == (2, mem.tgn.memory.shape[1]) and first.abs().sum() == 0
    after_first = mem.user_memory(torch.tensor([0, 1])).clone()
    second = mem.observe(torch.tensor([1, 1, 0]), torch.tensor([0, 2, 0]), torch.tensor([20, 21, 22]))
    assert torch.equal(second.user_before, after_first[[1, 1, 0]])
    assert second.user_gap.tolist() == [9.0, 10.0, 12.0]  # since each user's last update (11, 11, 10)
    assert not torch.equal(mem.user_memory(torch.tensor([0, 1])), after_first)


def test_an_event_older_than_its_items_last_update_moves_it_with_a_zero_gap_and_keeps_its_clock():
    """Leave-one-out feeds a user's held-out event after the training events of everyone else, most of them
    later: the item's clock stays at its latest event, and its message reads a zero gap, as if the event came
    at that time (an item's update reads its own memory, the user's and the gap, not the user's clock)."""
    late, on_time = _memory(), _memory()
    for mem in (late, on_time):
        mem.observe(torch.tensor([0]), torch.tensor([1]), torch.tensor([100]))
    late.observe(torch.tensor([1]), torch.tensor([1]), torch.tensor([50]))
    on_time.observe(torch.tensor([1]), torch.tensor([1]), torch.tensor([100]))
    assert late.last_update().tolist() == [100, 50, 0, 0, 100, 0, 0]  # item 1 (node 4) kept 100
    assert torch.equal(late.item_memory(torch.tensor([1])), on_time.item_memory(torch.tensor([1])))
    assert late.observe(torch.tensor([2]), torch.tensor([1]), torch.tensor([40])).user_gap.tolist() == [40.0]


def test_observe_equals_pyg_update_state():
    """The vectorised observe, given each event's message inputs (its item's and type's share of the GRU's input
    gates), gives TGNMemory's own inference-path result over the raw messages (item vector, type one-hot) with
    its ``LastAggregator``, batch after batch (shared nodes, repeated pairs, a node's several messages in one
    batch, time gaps)."""
    torch.manual_seed(0)
    ours = InterestMemory(n_users=3, n_items=4, memory_dim=8, time_dim=4, msg_dim=5 + 2)
    theirs = copy.deepcopy(ours)
    TGNMemory._reset_message_store(theirs.tgn)  # PyG's own path reads its per-node store, which ours does not keep
    g = torch.Generator().manual_seed(3)
    table = torch.cat([torch.zeros(1, 5), torch.randn(4, 5, generator=g)])  # 1-based item vectors
    inputs = ours.message_inputs(table)
    t = 0
    for size in (1, 4, 7, 2, 9):
        users, items = torch.randint(0, 3, (size,), generator=g), torch.randint(0, 4, (size,), generator=g)
        types = torch.randint(0, 2, (size,), generator=g)
        ts = t + 1 + torch.randperm(50, generator=g)[:size].sort().values  # distinct: "latest" is one event
        t = int(ts[-1])
        ours.observe(users, items, ts, types, inputs)
        raw = torch.cat([table[items + 1], torch.nn.functional.one_hot(types, 2).float()], dim=1)
        with torch.no_grad():
            theirs.tgn.update_state(users, items + 3, ts, raw)
        assert torch.allclose(ours.tgn.memory, theirs.tgn.memory, atol=1e-6)
        assert torch.equal(ours.last_update(), theirs.last_update())
    assert ours.tgn.memory.abs().sum() > 0


def test_graph_user_vector_is_a_function_of_the_graph_only():
    """User nodes start from zeros: users with the same items get the same vector, whatever their ids, and the
    third layer brings in a neighbour's other items (user 2 shares item 0 with user 3; when user 3 swaps item 1
    for item 2, user 2's vector moves though its own edges did not)."""
    from igcore.pipeline.config import PipelineConfig
    from igcore.pipeline.net import IgcoreNet

    torch.manual_seed(0)
    net = IgcoreNet(PipelineConfig(dim=8, gnn_layers=3, use_temporal=False, graph_on="users"), n_users=4, n_items=3,
                    n_types=1, text=None).eval()

    def users(pairs: list[tuple[int, int]]) -> torch.Tensor:
        u, i = torch.tensor(pairs).T
        return net.item_table(bipartite_edge_index(u, i, n_users=4)).graph_user

    a = users([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1)])
    b = users([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (3, 2)])  # user 3 swaps item 1 for item 2
    assert torch.equal(a[0], a[1]) and not torch.equal(a[0], a[2])
    assert not torch.allclose(a[2], b[2])


def test_a_memory_keeps_no_per_node_message_store():
    """PyG's store holds an entry per node, rebuilt at every reset; ``observe`` never reads it, so none is kept
    (building a memory for a million nodes must not cost a million dict entries)."""
    memory = InterestMemory(n_users=1000, n_items=500, memory_dim=8, time_dim=4, msg_dim=6)
    memory.reset_state()
    assert memory.tgn.msg_s_store == {} and memory.tgn.msg_d_store == {}
    memory.tgn.reset_state()  # PyG's own reset too
    assert memory.tgn.msg_s_store == {} and memory.tgn.msg_d_store == {}


def test_source_dropout_acts_on_the_graph_and_memory_in_training_only():
    torch.manual_seed(0)
    plain, dropped = SourceFusion(4, 3, True, True), SourceFusion(4, 3, True, True, dropout=1.0)
    dropped.load_state_dict(plain.state_dict())
    seq, graph, memory = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 3)
    for m in (plain, dropped):
        m.eval()
    assert torch.equal(plain(seq, graph, memory)[0], dropped(seq, graph, memory)[0])
    dropped.train()
    # every graph and memory feature dropped: the graph source is zeros and the memory's is its projection's bias
    assert torch.equal(dropped(seq, graph, memory)[0], plain(seq, torch.zeros_like(graph), torch.zeros_like(memory))[0])
