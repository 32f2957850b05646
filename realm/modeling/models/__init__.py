"""The five REALM model classes, named as in Hugging Face transformers."""

from realm.modeling.models.embedder import RealmEmbedder
from realm.modeling.models.knowledge_aug_encoder import RealmKnowledgeAugEncoder
from realm.modeling.models.open_qa import RealmForOpenQA
from realm.modeling.models.reader import RealmReader
from realm.modeling.models.scorer import RealmScorer

__all__ = ["RealmEmbedder", "RealmForOpenQA", "RealmKnowledgeAugEncoder", "RealmReader", "RealmScorer"]
